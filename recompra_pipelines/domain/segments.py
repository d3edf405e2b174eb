"""The 11 RFM segment labels of the RecompraCRM (docs/business-rules.md#rfm-segments): what
`rfm_analysis` assigns, what campaigns target and what the database accepts - defined once, here."""

RFM_SEGMENTS = (
    "CAMPEÕES",
    "CLIENTES LEAIS",
    "POTENCIAIS CLIENTES LEAIS",
    "CLIENTES RECENTES",
    "PROMISSORES",
    "PRECISAM DE ATENÇÃO",
    "PRESTES A DORMIR",
    "EM RISCO",
    "NÃO PODE PERDÊ-LOS",
    "HIBERNANDO",
    "PERDIDOS",
)
