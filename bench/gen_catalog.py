#!/usr/bin/env python3
"""Writes a synthetic watch catalog in the `vitrine import catalog` JSON format.

    python3 bench/gen_catalog.py --count 100000 --out catalog.json [--stats stats.json]
                                 [--words words.txt]

Brand, integrated_bracelet, start_release and end_release are drawn exactly as the
PocketBase peer's seed.py draws them (16 brands in turn, random.Random(42), the same
calls in the same order), so record j has the same brand, bracelet and years on both
servers and the filtered list matches the same watches. Differences from seed.py:
- end_release is capped at END_CAP, since vitrine refuses years after next year;
- codes are unique (vitrine's rule): a repeated draw gets the record number appended;
- every watch also has a factory, gender, case material, mechanism and aliases (Latin and
  Cyrillic), drawn from a second generator so the first one stays in step with seed.py.

--stats writes what the benchmark checks against: how many watches the filtered list
and the search word should find. The filter reads "from YEAR" two ways: PocketBase's
`start_release>=YEAR` (list_matches) and vitrine's `year_from=YEAR`, where the release
years overlap [YEAR, ∞), i.e. end_release >= YEAR (list_matches_overlap). Sorted newest
first, the first page is the same either way. The search rule is vitrine's: a watch
matches when one of the words of its folder, code, brand or aliases starts with the
query word.

--words writes the search words of the benchmark: every word of the generated aliases, as
vitrine cuts them, that is not a number and has three letters or more (about 170: model
families in Latin and Cyrillic, brands in Cyrillic, nicknames), one per line, sorted.
"""
import argparse
import json
import random
import sys

# The same 16 names, in the same order, as the peer's seed.py.
BRANDS = ["Rolex", "Omega", "Patek Philippe", "Audemars Piguet", "Vacheron Constantin",
          "Seiko", "Grand Seiko", "Cartier", "IWC", "Jaeger-LeCoultre", "Tudor",
          "Breitling", "Zenith", "Longines", "TAG Heuer", "Panerai"]

BRAND_CYRILLIC = {
    "Rolex": "Ролекс", "Omega": "Омега", "Patek Philippe": "Патек Филипп",
    "Audemars Piguet": "Одемар Пиге", "Vacheron Constantin": "Вашерон Константин",
    "Seiko": "Сейко", "Grand Seiko": "Гранд Сейко", "Cartier": "Картье", "IWC": "ИВЦ",
    "Jaeger-LeCoultre": "Жагер-Лекультр", "Tudor": "Тюдор", "Breitling": "Брайтлинг",
    "Zenith": "Зенит", "Longines": "Лонжин", "TAG Heuer": "Таг Хойер", "Panerai": "Панерай",
}

# Model families per brand: (Latin, Cyrillic).
FAMILIES = {
    "Rolex": [("Submariner", "Субмаринер"), ("Daytona", "Дайтона"), ("Datejust", "Дейтджаст"),
              ("GMT-Master", "Джи-Эм-Ти Мастер")],
    "Omega": [("Seamaster", "Симастер"), ("Speedmaster", "Спидмастер"),
              ("Constellation", "Констелейшн"), ("De Ville", "Де Виль")],
    "Patek Philippe": [("Nautilus", "Наутилус"), ("Calatrava", "Калатрава"),
                       ("Aquanaut", "Акванавт"), ("Gondolo", "Гондоло")],
    "Audemars Piguet": [("Royal Oak", "Роял Оук"), ("Royal Oak Offshore", "Роял Оук Оффшор"),
                        ("Code 11.59", "Код 11.59"), ("Millenary", "Миллениари")],
    "Vacheron Constantin": [("Overseas", "Оверсиз"), ("Patrimony", "Патримони"),
                            ("Traditionnelle", "Традисьонель"), ("Fiftysix", "Фифтисикс")],
    "Seiko": [("Presage", "Пресаж"), ("Prospex", "Проспекс"), ("Turtle", "Черепаха"),
              ("Samurai", "Самурай")],
    "Grand Seiko": [("Snowflake", "Снежинка"), ("Heritage", "Херитейдж"),
                    ("Evolution 9", "Эволюшн 9"), ("Elegance", "Элеганс")],
    "Cartier": [("Tank", "Танк"), ("Santos", "Сантос"), ("Ballon Bleu", "Баллон Блю"),
                ("Pasha", "Паша")],
    "IWC": [("Portugieser", "Португизер"), ("Pilot", "Пилот"), ("Aquatimer", "Акватаймер"),
            ("Ingenieur", "Инженер")],
    "Jaeger-LeCoultre": [("Reverso", "Реверсо"), ("Master Control", "Мастер Контрол"),
                         ("Polaris", "Поларис"), ("Memovox", "Мемовокс")],
    "Tudor": [("Black Bay", "Блэк Бэй"), ("Pelagos", "Пелагос"), ("Ranger", "Рейнджер"),
              ("Royal", "Роял")],
    "Breitling": [("Navitimer", "Навитаймер"), ("Chronomat", "Хрономат"),
                  ("Superocean", "Супероушен"), ("Avenger", "Эвенджер")],
    "Zenith": [("El Primero", "Эль Примеро"), ("Defy", "Дефай"), ("Pilot Type 20", "Пилот Тип 20"),
               ("Elite", "Элит")],
    "Longines": [("Conquest", "Конквест"), ("Master Collection", "Мастер Коллекшн"),
                 ("Spirit", "Спирит"), ("HydroConquest", "Гидроконквест")],
    "TAG Heuer": [("Carrera", "Каррера"), ("Monaco", "Монако"), ("Aquaracer", "Акварейсер"),
                  ("Formula 1", "Формула 1")],
    "Panerai": [("Luminor", "Люминор"), ("Radiomir", "Радиомир"), ("Submersible", "Сабмерсибл"),
                ("Due", "Дуэ")],
}

FACTORIES = {
    "Rolex": "Rolex SA", "Omega": "Omega SA", "Patek Philippe": "Patek Philippe SA",
    "Audemars Piguet": "Audemars Piguet Le Brassus", "Vacheron Constantin": "Vacheron Constantin Genève",
    "Seiko": "Seiko Instruments", "Grand Seiko": "Grand Seiko Studio Shizukuishi",
    "Cartier": "Cartier La Chaux-de-Fonds", "IWC": "IWC Schaffhausen",
    "Jaeger-LeCoultre": "Jaeger-LeCoultre Le Sentier", "Tudor": "Tudor Le Locle",
    "Breitling": "Breitling Chronométrie", "Zenith": "Zenith Le Locle",
    "Longines": "Longines Saint-Imier", "TAG Heuer": "TAG Heuer La Chaux-de-Fonds",
    "Panerai": "Officine Panerai Neuchâtel",
}

GENDERS = [("мужские", 70), ("женские", 15), ("унисекс", 15)]
CASE_MATERIALS = [("нержавеющая сталь", 55), ("золото 750", 15), ("титан", 10),
                  ("платина", 5), ("керамика", 8), ("бронза", 7)]
MECHANISM_TYPES = [("механические с автоподзаводом", 55), ("механические", 20),
                   ("механический хронограф", 15), ("кварцевые", 10)]
FUNCTIONS = ["календарь", "день недели", "хронограф", "GMT", "фаза луны", "запас хода",
             "будильник", "центральная секундная стрелка"]
NICKNAMES = ["водолазные", "пилотские", "парадные", "спортивные", "классические",
             "лимитированные", "юбилейные", "дамские", "хронометр", "Pepsi", "Panda",
             "Moonwatch", "Лунные", "Ёлочка"]

# vitrine accepts release years up to next year; seed.py's end_release goes up to 2050.
END_CAP = 2025
CALIBRES_PER_BRAND = 6


def weighted(rng, pairs):
    return rng.choices([value for value, _ in pairs], weights=[w for _, w in pairs])[0]


def calibres(brand):
    """A brand's calibres, fixed by the brand name so each is one mechanism row."""
    rng = random.Random("calibres:" + brand)
    prefix = "".join(word[0] for word in brand.replace("-", " ").split()).upper()
    out = []
    for n in range(CALIBRES_PER_BRAND):
        kind = weighted(rng, MECHANISM_TYPES)
        functions = []
        if kind == "механический хронограф":
            functions.append("хронограф")
        functions += [f for f in rng.sample(FUNCTIONS, rng.randint(0, 2)) if f not in functions]
        out.append({
            "name": f"{prefix} {rng.randint(100, 9999)}{'ABCDEFGH'[n]}",
            "type": kind,
            "stones": 0 if kind == "кварцевые" else rng.randint(17, 40),
            "functions": functions,
        })
    return out


def tokens(text):
    """vitrine's search words: lower case, ё as е, letters and digits only."""
    text = text.lower().replace("ё", "е")
    words, cur = [], []
    for ch in text:
        if ch.isalnum():
            cur.append(ch)
        elif cur:
            words.append("".join(cur))
            cur = []
    if cur:
        words.append("".join(cur))
    return words


def document_tokens(watch):
    out = set()
    for text in [watch["folder"], watch["code"], watch["brand"], *watch["aliases"]]:
        if text:
            words = tokens(text)
            out.update(words)
            if words:
                out.add("".join(words))
    return out


def generate(count, seed, side_seed):
    rng = random.Random(seed)           # in step with seed.py
    side = random.Random(side_seed)     # everything seed.py doesn't have
    mechs = {brand: calibres(brand) for brand in BRANDS}
    codes = set()
    for j in range(count):
        brand = BRANDS[j % len(BRANDS)]
        start = rng.randint(1950, 2020)
        code = f"{rng.randint(1000, 99999)}/{rng.choice('ABCDEFGHJKLMNPRST')}{rng.randint(0, 9)}"
        bracelet = rng.random() < 0.3
        end = min(start + rng.randint(0, 30), END_CAP)

        if code in codes:
            code = f"{code}-{j}"
        codes.add(code)
        family_lat, family_cyr = side.choice(FAMILIES[brand])
        aliases = [f"{family_lat} {side.randint(100, 9999)}", family_cyr]
        if side.random() < 0.5:
            aliases.append(BRAND_CYRILLIC[brand])
        if side.random() < 0.4:
            aliases.append(side.choice(NICKNAMES))
        yield {
            "folder": f"{brand.lower().replace(' ', '-')}-{j:06d}",
            "code": None if side.random() < 0.05 else code,
            "brand": brand,
            "factory": FACTORIES[brand],
            "gender": weighted(side, GENDERS),
            "case_material": weighted(side, CASE_MATERIALS),
            "mechanism": None if side.random() < 0.03 else side.choice(mechs[brand]),
            "integrated_bracelet": bracelet,
            "start_release": start,
            "end_release": end,
            "aliases": aliases,
        }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=100_000)
    ap.add_argument("--out", required=True)
    ap.add_argument("--stats", help="write the expected match counts here (JSON)")
    ap.add_argument("--seed", type=int, default=42, help="seed.py's seed (default 42)")
    ap.add_argument("--side-seed", type=int, default=4242)
    ap.add_argument("--words", help="write the alias words to search for here, one a line")
    ap.add_argument("--search", default="симастер", help="search word to count matches for")
    ap.add_argument("--list-brand", default="Omega")
    ap.add_argument("--list-year-from", type=int, default=1970)
    args = ap.parse_args()
    if args.count < 1:
        sys.exit("--count must be positive")

    query = tokens(args.search)
    list_matches = list_overlap = search_matches = with_code = with_mech = alias_total = 0
    cyrillic_aliases = 0
    alias_words = set()
    first = True
    with open(args.out, "w", encoding="utf-8") as f:
        f.write("[\n")
        for watch in generate(args.count, args.seed, args.side_seed):
            if not first:
                f.write(",\n")
            first = False
            json.dump(watch, f, ensure_ascii=False)
            if (watch["brand"] == args.list_brand and watch["integrated_bracelet"]
                    and watch["start_release"] >= args.list_year_from):
                list_matches += 1
            if (watch["brand"] == args.list_brand and watch["integrated_bracelet"]
                    and watch["end_release"] >= args.list_year_from):
                list_overlap += 1
            words = document_tokens(watch)
            if query and all(any(w.startswith(q) for w in words) for q in query):
                search_matches += 1
            with_code += watch["code"] is not None
            with_mech += watch["mechanism"] is not None
            alias_total += len(watch["aliases"])
            for alias in watch["aliases"]:
                alias_words.update(w for w in tokens(alias) if len(w) >= 3 and not w.isdigit())
            cyrillic_aliases += sum(any("а" <= c.lower() <= "я" or c in "ёЁ" for c in a)
                                    for a in watch["aliases"])
        f.write("\n]\n")

    stats = {
        "count": args.count,
        "brands": len(BRANDS),
        "list_brand": args.list_brand,
        "list_year_from": args.list_year_from,
        "list_matches": list_matches,
        "list_matches_overlap": list_overlap,
        "search": args.search,
        "search_matches": search_matches,
        "with_code": with_code,
        "with_mechanism": with_mech,
        "mechanisms": len(BRANDS) * CALIBRES_PER_BRAND,
        "aliases": alias_total,
        "cyrillic_aliases": cyrillic_aliases,
        "alias_words": len(alias_words),
    }
    if args.words:
        with open(args.words, "w", encoding="utf-8") as f:
            f.writelines(word + "\n" for word in sorted(alias_words))
    if args.stats:
        with open(args.stats, "w", encoding="utf-8") as f:
            json.dump(stats, f, ensure_ascii=False)
    print(json.dumps(stats, ensure_ascii=False))


if __name__ == "__main__":
    main()
