"""The 11 RFM segment labels of the RecompraCRM (docs/business-rules.md#rfm-segments): what
`rfm_analysis` assigns, what campaigns target and what the database accepts - defined once, here."""

from enum import StrEnum


class RfmSegment(StrEnum):
    CHAMPIONS = "CAMPEÕES"
    LOYAL = "CLIENTES LEAIS"
    POTENTIAL_LOYAL = "POTENCIAIS CLIENTES LEAIS"
    RECENT = "CLIENTES RECENTES"
    PROMISING = "PROMISSORES"
    NEED_ATTENTION = "PRECISAM DE ATENÇÃO"
    ABOUT_TO_SLEEP = "PRESTES A DORMIR"
    AT_RISK = "EM RISCO"
    CANNOT_LOSE = "NÃO PODE PERDÊ-LOS"
    HIBERNATING = "HIBERNANDO"
    LOST = "PERDIDOS"


RFM_SEGMENTS = tuple(segment.value for segment in RfmSegment)
# A client without an RFM analysis yet is a recent client (the CRM's default label).
DEFAULT_SEGMENT = RfmSegment.RECENT
