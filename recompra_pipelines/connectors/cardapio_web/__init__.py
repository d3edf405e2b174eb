"""CardápioWeb (docs/erp-wire-formats.md#cardápioweb): order history pages plus one detail call per
order."""
