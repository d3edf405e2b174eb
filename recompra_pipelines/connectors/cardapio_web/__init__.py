"""CardápioWeb (facts §2): order history pages plus one detail call per order."""
