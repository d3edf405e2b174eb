"""Deterministic Brazilian retail fake data: people, phones, documents and product catalogues.

Everything takes a ``random.Random`` so a caller that seeds it from a stable hash gets the same
data on every run and every machine. The output is deliberately as messy as real ERP data
entered by hand at a till: names in inconsistent case, spacing and accents, phones in every
format a cashier types, masked and unmasked documents.
"""

from __future__ import annotations

import operator
import random
import unicodedata
from dataclasses import dataclass

MALE_NAMES = (
    "José",
    "João",
    "Antônio",
    "Francisco",
    "Carlos",
    "Paulo",
    "Pedro",
    "Lucas",
    "Luís",
    "Marcos",
    "Luiz",
    "Gabriel",
    "Rafael",
    "Daniel",
    "Marcelo",
    "Bruno",
    "Eduardo",
    "Felipe",
    "Raimundo",
    "Rodrigo",
    "Sebastião",
    "Fábio",
    "Cláudio",
    "André",
    "Vinícius",
    "Márcio",
    "Sérgio",
    "Otávio",
    "Édson",
    "Wellington",
    "Caio",
    "Benedito",
    "Henrique",
    "Gustavo",
)
FEMALE_NAMES = (
    "Maria",
    "Ana",
    "Francisca",
    "Antônia",
    "Adriana",
    "Juliana",
    "Márcia",
    "Fernanda",
    "Patrícia",
    "Aline",
    "Sandra",
    "Camila",
    "Amanda",
    "Bruna",
    "Jéssica",
    "Letícia",
    "Júlia",
    "Luciana",
    "Vanessa",
    "Mariana",
    "Gabriela",
    "Conceição",
    "Lúcia",
    "Cecília",
    "Mônica",
    "Débora",
    "Flávia",
    "Inês",
    "Vitória",
    "Tânia",
    "Renata",
    "Simone",
    "Cristiane",
    "Raquel",
    "Joana",
    "Thaís",
    "Lívia",
    "Heloísa",
    "Eduarda",
    "Aparecida",
)
SURNAMES = (
    "Silva",
    "Santos",
    "Oliveira",
    "Souza",
    "Rodrigues",
    "Ferreira",
    "Alves",
    "Pereira",
    "Lima",
    "Gomes",
    "Costa",
    "Ribeiro",
    "Martins",
    "Carvalho",
    "Almeida",
    "Lopes",
    "Soares",
    "Fernandes",
    "Vieira",
    "Barbosa",
    "Rocha",
    "Dias",
    "Nascimento",
    "Andrade",
    "Moreira",
    "Nunes",
    "Marques",
    "Machado",
    "Mendes",
    "Freitas",
    "Cardoso",
    "Ramos",
    "Gonçalves",
    "Santana",
    "Teixeira",
    "Araújo",
    "Conceição",
    "Magalhães",
    "Assunção",
    "Simões",
    "Brandão",
    "Damasceno",
    "Patrício",
    "Guimarães",
    "Mourão",
    "Falcão",
    "Estêvão",
    "Romão",
    "Sá",
    "Bragança",
)

SELLER_NAMES = (
    "MARIA",
    "ANA PAULA",
    "JOAO",
    "CARLOS",
    "FERNANDA",
    "LUCIANA",
    "PEDRO H.",
    "JULIANA",
    "Rafaela",
    "Tiago",
    "Bruna S.",
    "VANDERLEI",
    "Josiane",
    "CAIXA 01",
    "GERENTE",
)


def strip_accents(text: str) -> str:
    return "".join(
        ch for ch in unicodedata.normalize("NFD", text) if unicodedata.category(ch) != "Mn"
    )


def _particle(surname: str) -> str:
    if surname.endswith("s"):
        return "dos"
    return "da" if surname.endswith("a") else "de"


def person_name(rng: random.Random) -> str:
    """A canonical, correctly spelled Brazilian full name, e.g. ``José da Silva``."""
    given = MALE_NAMES if rng.random() < 0.5 else FEMALE_NAMES
    parts = [rng.choice(given)]
    if rng.random() < 0.3:
        parts.append(rng.choice(given))
    surname = rng.choice(SURNAMES)
    if rng.random() < 0.35:
        parts.append(_particle(surname))
    parts.append(surname)
    if rng.random() < 0.45:
        parts.append(rng.choice(SURNAMES))
    return " ".join(parts)


# How a cashier may type a name: the same person shows up in all of these forms across sales.
NAME_STYLES = ("title", "upper_ascii", "upper", "lower_spaced", "title_trailing", "first_last")


def render_name(name: str, style: str) -> str:
    if style == "title":
        return name
    if style == "upper_ascii":
        return strip_accents(name).upper()
    if style == "upper":
        return name.upper()
    if style == "lower_spaced":
        return " " + name.lower().replace(" ", "  ", 1)
    if style == "title_trailing":
        return name + " "
    if style == "first_last":
        words = name.split()
        return strip_accents(f"{words[0]} {words[-1]}").upper()
    raise ValueError(f"unknown name style {style!r}")


ANONYMOUS_CLIENT = "AO CONSUMIDOR"
ANONYMOUS_VARIANTS = ("ao consumidor", "AO  CONSUMIDOR", "Ao Consumidor ", " AO CONSUMIDOR")


def anonymous_client(rng: random.Random) -> str:
    if rng.random() < 0.85:
        return ANONYMOUS_CLIENT
    return rng.choice(ANONYMOUS_VARIANTS)


# -- phones ----------------------------------------------------------------------------------

# (UF code for NF-e keys, state, area codes of that state) — area 55 is a real RS code and
# collides with the country code, which is exactly why it is here.
STATES = (
    ("31", "MG", ("34", "31", "35", "37", "38")),
    ("35", "SP", ("11", "19", "16", "17")),
    ("33", "RJ", ("21", "22", "24")),
    ("41", "PR", ("41", "43", "44")),
    ("43", "RS", ("51", "55", "54", "53")),
    ("29", "BA", ("71", "75", "73")),
    ("52", "GO", ("62", "64")),
)
OTHER_AREA_CODES = ("11", "21", "61", "81", "85", "27", "48", "55", "92", "91")

MOBILE_STYLES = (
    "paren",
    "digits",
    "intl_spaced",
    "intl_digits",
    "spaced",
    "paren_tight",
    "no_area",
    "trunk_zero",
    "legacy_8",
)
MOBILE_STYLE_WEIGHTS = (30, 30, 8, 8, 10, 6, 2, 2, 4)
LANDLINE_STYLES = ("paren", "digits", "spaced", "intl_digits")
LANDLINE_STYLE_WEIGHTS = (45, 40, 10, 5)


def mobile_digits(rng: random.Random, area: str) -> str:
    """11 digits: area code, the mobile ``9`` and 8 digits."""
    return f"{area}9{rng.randint(6, 9)}{rng.randrange(10_000_000):07d}"


def landline_digits(rng: random.Random, area: str) -> str:
    """10 digits: area code and an 8-digit landline starting 2–5."""
    return f"{area}{rng.randint(2, 5)}{rng.randrange(10_000_000):07d}"


def render_phone(digits: str, style: str) -> str:
    """Format national digits (10 or 11) the way ``style`` names."""
    area, local = digits[:2], digits[2:]
    head, tail = local[:-4], local[-4:]
    if style == "paren":
        return f"({area}) {head}-{tail}"
    if style == "digits":
        return digits
    if style == "intl_spaced":
        return f"+55 {area} {head}-{tail}"
    if style == "intl_digits":
        return "55" + digits
    if style == "spaced":
        return f"{area} {head}-{tail}"
    if style == "paren_tight":
        return f"({area}){local}"
    if style == "no_area":
        return f"{head}-{tail}"
    if style == "trunk_zero":
        return "0" + digits
    if style == "legacy_8":
        return f"({area}) {local[1:5]}-{tail}" if len(local) == 9 else f"({area}) {head}-{tail}"
    raise ValueError(f"unknown phone style {style!r}")


# -- documents -------------------------------------------------------------------------------


def _mod11_digit(digits: str, weights: list[int]) -> str:
    total = sum(int(d) * w for d, w in zip(digits, weights, strict=True))
    rest = total % 11
    return "0" if rest < 2 else str(11 - rest)


def cpf(rng: random.Random, valid: bool = True) -> str:
    base = f"{rng.randrange(1, 999_999_999):09d}"
    d1 = _mod11_digit(base, list(range(10, 1, -1)))
    d2 = _mod11_digit(base + d1, list(range(11, 1, -1)))
    check = d1 + d2
    if not valid:
        check = f"{(int(check) + 1 + rng.randrange(98)) % 100:02d}"
    return base + check


def cnpj(rng: random.Random, valid: bool = True, branch: int = 1) -> str:
    base = f"{rng.randrange(1, 99_999_999):08d}{branch:04d}"
    w1 = [5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]
    d1 = _mod11_digit(base, w1)
    d2 = _mod11_digit(base + d1, [6, *w1])
    check = d1 + d2
    if not valid:
        check = f"{(int(check) + 1 + rng.randrange(98)) % 100:02d}"
    return base + check


def mask_document(digits: str) -> str:
    if len(digits) == 11:
        return f"{digits[:3]}.{digits[3:6]}.{digits[6:9]}-{digits[9:]}"
    if len(digits) == 14:
        return f"{digits[:2]}.{digits[2:5]}.{digits[5:8]}/{digits[8:12]}-{digits[12:]}"
    return digits


_KEY_WEIGHTS = tuple(2 + (42 - i) % 8 for i in range(43))
_KEY_ZERO_OFFSET = ord("0") * sum(_KEY_WEIGHTS)


def nfe_access_key(
    uf: str, yymm: str, issuer_cnpj: str, modelo: str, serie: int, numero: int, codigo: int
) -> str:
    """The 44-digit NF-e/NFC-e access key with its mod-11 check digit."""
    body = f"{uf}{yymm}{issuer_cnpj}{modelo}{serie:03d}{numero % 1_000_000_000:09d}1{codigo:08d}"
    rest = (sum(map(operator.mul, body.encode(), _KEY_WEIGHTS)) - _KEY_ZERO_OFFSET) % 11
    return body + ("0" if rest < 2 else str(11 - rest))


def ean13(rng: random.Random) -> str:
    body = "789" + f"{rng.randrange(1_000_000_000):09d}"
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body))
    return body + str((10 - total % 10) % 10)


# -- products --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Product:
    codigo: str
    descricao: str
    unidade: str
    grupo: str
    ncm: str
    cest: str
    cfop: str
    csosn: str
    price_cents: int
    cost_per_mille: int  # cost as thousandths of the price
    weighed: bool  # sold by the kilo: fractional quantities


@dataclass(frozen=True, slots=True)
class _Line:
    noun: str
    variants: tuple[str, ...]
    sizes: tuple[str, ...]
    ncm: str
    price_range: tuple[int, int]  # reais
    unidade: str = "UN"


# grupo -> (substitution tax? , lines). ST items use CFOP 5405 / CSOSN 500 and carry a CEST.
_GROUPS: dict[str, tuple[str, tuple[_Line, ...]]] = {
    "VESTUARIO": (
        "",
        (
            _Line(
                "CAMISETA",
                ("BASICA", "GOLA V", "ESTAMPADA", "POLO", "REGATA"),
                ("P", "M", "G", "GG"),
                "61091000",
                (29, 119),
            ),
            _Line(
                "CALCA JEANS",
                ("SKINNY", "RETA", "FLARE", "MOM"),
                ("36", "38", "40", "42", "44"),
                "62034200",
                (89, 249),
            ),
            _Line(
                "VESTIDO",
                ("MIDI", "LONGO", "CURTO", "TUBINHO"),
                ("P", "M", "G"),
                "62044300",
                (79, 259),
            ),
            _Line(
                "CAMISA SOCIAL",
                ("MANGA LONGA", "SLIM", "XADREZ"),
                ("1", "2", "3", "4"),
                "61051000",
                (69, 189),
            ),
            _Line(
                "BERMUDA",
                ("SARJA", "MOLETOM", "TACTEL"),
                ("38", "40", "42", "44"),
                "62034300",
                (49, 139),
            ),
            _Line("LEGGING", ("SUPLEX", "CIRRE", "FITNESS"), ("P", "M", "G"), "61046200", (39, 99)),
        ),
    ),
    "CALCADOS": (
        "",
        (
            _Line(
                "TENIS",
                ("CASUAL", "CORRIDA", "CANO ALTO"),
                ("35", "36", "37", "38", "39", "40", "41", "42"),
                "64041100",
                (99, 399),
            ),
            _Line(
                "SANDALIA",
                ("RASTEIRA", "SALTO BLOCO", "PAPETE"),
                ("34", "35", "36", "37", "38", "39"),
                "64029990",
                (49, 189),
            ),
            _Line(
                "CHINELO",
                ("TRADICIONAL", "SLIDE"),
                ("33/34", "35/36", "37/38", "39/40", "41/42"),
                "64022000",
                (19, 59),
            ),
        ),
    ),
    "ACESSORIOS": (
        "",
        (
            _Line(
                "BOLSA",
                ("TRANSVERSAL", "TIRACOLO", "SACOLA"),
                ("PRETA", "CARAMELO", "OFF WHITE"),
                "42022220",
                (59, 299),
            ),
            _Line(
                "BRINCO",
                ("ARGOLA", "PEROLA", "FOLHEADO"),
                ("DOURADO", "PRATA"),
                "71171900",
                (15, 79),
            ),
            _Line(
                "BONE",
                ("ABA RETA", "ABA CURVA", "TRUCKER"),
                ("PRETO", "BRANCO", "AZUL"),
                "65050090",
                (29, 89),
            ),
            _Line("CINTO", ("COURO", "SINTETICO"), ("P", "M", "G"), "42033000", (39, 129)),
        ),
    ),
    "COSMETICOS": (
        "0",
        (
            _Line(
                "SHAMPOO",
                ("HIDRATACAO", "ANTICASPA", "CACHOS", "RESTAURADOR"),
                ("300ML", "400ML", "1L"),
                "33051000",
                (14, 69),
            ),
            _Line(
                "CONDICIONADOR",
                ("HIDRATACAO", "CACHOS", "LISO"),
                ("300ML", "400ML"),
                "33059000",
                (14, 69),
            ),
            _Line(
                "HIDRATANTE CORPORAL",
                ("AMENDOAS", "KARITE", "AVEIA"),
                ("200ML", "400ML"),
                "33049990",
                (19, 79),
            ),
            _Line(
                "PERFUME",
                ("FLORAL", "AMADEIRADO", "CITRICO"),
                ("50ML", "100ML"),
                "33030010",
                (79, 349),
            ),
            _Line(
                "BATOM",
                ("MATTE", "CREMOSO", "GLOSS"),
                ("NUDE", "VERMELHO", "ROSE"),
                "33041000",
                (19, 59),
            ),
            _Line("DESODORANTE", ("AEROSOL", "ROLL-ON"), ("150ML", "50ML"), "33072010", (9, 29)),
        ),
    ),
    "BEBIDAS": (
        "ST",
        (
            _Line(
                "REFRIGERANTE",
                ("COLA", "GUARANA", "LARANJA", "LIMAO"),
                ("350ML", "600ML", "2L"),
                "22021000",
                (4, 13),
            ),
            _Line("AGUA MINERAL", ("SEM GAS", "COM GAS"), ("500ML", "1,5L"), "22011000", (2, 6)),
            _Line(
                "CERVEJA",
                ("PILSEN", "PURO MALTE"),
                ("LATA 350ML", "LONG NECK 330ML"),
                "22030000",
                (3, 9),
            ),
            _Line("CERVEJA", ("PILSEN",), ("CX 12 LATAS",), "22030000", (39, 69), "CX"),
            _Line("SUCO", ("UVA", "LARANJA", "PESSEGO"), ("1L", "200ML"), "20098990", (4, 14)),
            _Line(
                "ENERGETICO", ("TRADICIONAL", "SEM ACUCAR"), ("250ML", "473ML"), "22029900", (7, 15)
            ),
        ),
    ),
    "MERCEARIA": (
        "0",
        (
            _Line(
                "ARROZ", ("TIPO 1", "PARBOILIZADO", "INTEGRAL"), ("1KG", "5KG"), "10063021", (6, 32)
            ),
            _Line("FEIJAO", ("CARIOCA", "PRETO"), ("1KG",), "07133319", (7, 12)),
            _Line(
                "CAFE TORRADO E MOIDO",
                ("TRADICIONAL", "EXTRA FORTE"),
                ("250G", "500G"),
                "09012100",
                (9, 28),
            ),
            _Line("ACUCAR", ("CRISTAL", "REFINADO"), ("1KG", "5KG"), "17019900", (4, 22)),
            _Line(
                "BISCOITO",
                ("RECHEADO", "CREAM CRACKER", "MAISENA"),
                ("130G", "200G", "400G"),
                "19053100",
                (2, 9),
            ),
            _Line("OLEO DE SOJA", ("",), ("900ML",), "15079011", (6, 11)),
            _Line("MACARRAO", ("ESPAGUETE", "PARAFUSO"), ("500G",), "19021900", (3, 8)),
        ),
    ),
    "HORTIFRUTI": (
        "0",
        (
            _Line("BANANA", ("PRATA", "NANICA"), ("KG",), "08039000", (4, 9), "KG"),
            _Line("TOMATE", ("ITALIANO", "SALADA"), ("KG",), "07020000", (5, 12), "KG"),
            _Line("MACA", ("GALA", "FUJI"), ("KG",), "08081000", (7, 14), "KG"),
            _Line("CEBOLA", ("",), ("KG",), "07031019", (4, 8), "KG"),
        ),
    ),
    "ACOUGUE": (
        "0",
        (
            _Line(
                "CARNE BOVINA",
                ("PATINHO", "ACEM", "ALCATRA", "COSTELA"),
                ("KG",),
                "02013000",
                (29, 69),
                "KG",
            ),
            _Line(
                "FRANGO", ("COXA E SOBRECOXA", "PEITO", "FILE"), ("KG",), "02071400", (11, 29), "KG"
            ),
            _Line("LINGUICA", ("TOSCANA", "CALABRESA"), ("KG",), "16010000", (17, 32), "KG"),
        ),
    ),
    "LIMPEZA": (
        "ST",
        (
            _Line("DETERGENTE", ("NEUTRO", "LIMAO", "COCO"), ("500ML",), "34022000", (2, 4)),
            _Line("SABAO EM PO", ("MULTIACAO", "COCO"), ("800G", "1,6KG"), "34022000", (9, 29)),
            _Line("AGUA SANITARIA", ("",), ("1L", "2L"), "28289011", (3, 9)),
            _Line(
                "AMACIANTE", ("CONCENTRADO", "TRADICIONAL"), ("500ML", "2L"), "38099190", (6, 24)
            ),
        ),
    ),
    "HIGIENE": (
        "ST",
        (
            _Line(
                "PAPEL HIGIENICO",
                ("FOLHA DUPLA", "FOLHA SIMPLES"),
                ("4 ROLOS", "12 ROLOS"),
                "48181000",
                (5, 24),
            ),
            _Line("CREME DENTAL", ("TRIPLA ACAO", "BRANQUEADOR"), ("90G",), "33061000", (3, 9)),
            _Line(
                "SABONETE",
                ("ERVA DOCE", "HIDRATANTE", "ANTIBACTERIANO"),
                ("85G",),
                "34011190",
                (2, 5),
            ),
            _Line("ESCOVA DENTAL", ("MACIA", "MEDIA"), ("ADULTO", "INFANTIL"), "96032100", (4, 14)),
        ),
    ),
}

_ST_CEST = {"BEBIDAS": "0300700", "LIMPEZA": "1100100", "HIGIENE": "2002500"}

STORE_PROFILES = {
    "moda": ("VESTUARIO", "CALCADOS", "ACESSORIOS", "COSMETICOS"),
    "mercado": ("MERCEARIA", "BEBIDAS", "HORTIFRUTI", "ACOUGUE", "LIMPEZA", "HIGIENE"),
    "perfumaria": ("COSMETICOS", "HIGIENE", "ACESSORIOS", "LIMPEZA"),
    "conveniencia": ("BEBIDAS", "MERCEARIA", "HIGIENE", "LIMPEZA"),
}

_ACCENTED = {
    "FEIJAO": "FEIJÃO",
    "CAFE": "CAFÉ",
    "ACUCAR": "AÇÚCAR",
    "OLEO": "ÓLEO",
    "MACARRAO": "MACARRÃO",
    "MACA": "MAÇÃ",
    "AGUA": "ÁGUA",
    "SABAO": "SABÃO",
    "BASICA": "BÁSICA",
    "CALCA": "CALÇA",
    "HIGIENICO": "HIGIÊNICO",
    "CITRICO": "CÍTRICO",
    "LIMAO": "LIMÃO",
    "GUARANA": "GUARANÁ",
    "PESSEGO": "PÊSSEGO",
    "PEROLA": "PÉROLA",
    "SINTETICO": "SINTÉTICO",
    "LINGUICA": "LINGUIÇA",
    "ACEM": "ACÉM",
    "FILE": "FILÉ",
    "BONE": "BONÉ",
    "TENIS": "TÊNIS",
    "SANDALIA": "SANDÁLIA",
    "ACAO": "AÇÃO",
    "MULTIACAO": "MULTIAÇÃO",
    "HIDRATACAO": "HIDRATAÇÃO",
    "ENERGETICO": "ENERGÉTICO",
    "SANITARIA": "SANITÁRIA",
    "VESTUARIO": "VESTUÁRIO",
    "CALCADOS": "CALÇADOS",
    "ACESSORIOS": "ACESSÓRIOS",
    "COSMETICOS": "COSMÉTICOS",
    "ACOUGUE": "AÇOUGUE",
}


def _accented(text: str) -> str:
    return " ".join(_ACCENTED.get(word, word) for word in text.split(" "))


def _charm_price(rng: random.Random, low: int, high: int) -> int:
    """A shelf price in centavos ending in ,90 / ,99 / ,49 / ,00."""
    reais = rng.randint(low, high)
    cents = rng.choice((90, 90, 99, 49, 0, 95))
    return max(reais * 100 + cents - 100, 99) if cents else reais * 100


_QUALIFIERS = (
    "PREMIUM",
    "LINHA VERAO",
    "KIDS",
    "PLUS",
    "SLIM",
    "ECO",
    "NOVA",
    "SOLAR",
    "BELLA",
    "VITA",
    "PRIMOR",
    "DONA CLARA",
    "CLASSIC",
    "PROMO",
)


def product_catalogue(rng: random.Random, size: int, profile: str, accented: bool) -> list[Product]:
    """``size`` distinct products of a store of the given profile, with stable codes."""
    groups = STORE_PROFILES[profile]
    products: list[Product] = []
    seen: set[str] = set()
    next_internal_code = rng.randrange(100, 5000)
    attempts = 0
    while len(products) < size and attempts < size * 50:
        attempts += 1
        grupo = rng.choice(groups)
        tax, lines = _GROUPS[grupo]
        line = rng.choice(lines)
        words = [line.noun, rng.choice(line.variants)]
        if len(seen) > size // 2 or rng.random() < 0.3:
            words.append(rng.choice(_QUALIFIERS))
        if line.sizes != ("KG",):
            words.append(rng.choice(line.sizes))
        descricao = " ".join(w for w in words if w)
        if descricao in seen:
            continue
        seen.add(descricao)
        if rng.random() < 0.45:
            codigo = ean13(rng)
        else:
            next_internal_code += rng.randint(1, 7)
            codigo = str(next_internal_code)
        substitution = tax == "ST"
        products.append(
            Product(
                codigo=codigo,
                descricao=_accented(descricao) if accented else descricao,
                unidade=line.unidade,
                grupo=_accented(grupo) if accented else grupo,
                ncm=line.ncm,
                cest=_ST_CEST.get(grupo, "") if substitution else "",
                cfop="5405" if substitution else "5102",
                csosn="500" if substitution else "102",
                price_cents=_charm_price(rng, *line.price_range),
                cost_per_mille=rng.randint(380, 720),
                weighed=line.unidade == "KG",
            )
        )
    return products
