"""Realistic, reproducible genetic-resource rows for the benchmarks.

Hundreds of taxa across crop, medicinal and wild genera, Chinese and English common names
and intended uses, the 50 shipped region codes, ~200 holders, and collection and
registration dates spread over five years: enough variety that full-text and filter
selectivity look like a real register's, not like one row copied 200,000 times.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterator
from datetime import date, timedelta

from abs_registry import regions

GENERA = {
    "Oryza": ["sativa", "rufipogon", "officinalis", "meyeriana", "granulata"],
    "Glycine": ["max", "soja", "tomentella", "tabacina"],
    "Triticum": ["aestivum", "durum", "turgidum", "monococcum"],
    "Zea": ["mays"],
    "Hordeum": ["vulgare", "spontaneum", "bulbosum"],
    "Sorghum": ["bicolor", "propinquum"],
    "Setaria": ["italica", "viridis"],
    "Panicum": ["miliaceum", "virgatum"],
    "Fagopyrum": ["esculentum", "tataricum", "dibotrys"],
    "Camellia": ["sinensis", "oleifera", "japonica", "reticulata", "taliensis"],
    "Citrus": ["reticulata", "sinensis", "maxima", "medica", "ichangensis"],
    "Malus": ["domestica", "sieversii", "baccata", "hupehensis"],
    "Pyrus": ["pyrifolia", "bretschneideri", "ussuriensis"],
    "Prunus": ["persica", "armeniaca", "mume", "salicina", "avium"],
    "Vitis": ["vinifera", "amurensis", "davidii"],
    "Actinidia": ["chinensis", "deliciosa", "arguta", "eriantha"],
    "Litchi": ["chinensis"],
    "Dimocarpus": ["longan"],
    "Musa": ["acuminata", "balbisiana", "itinerans"],
    "Brassica": ["rapa", "napus", "juncea", "oleracea"],
    "Cucumis": ["sativus", "melo", "hystrix"],
    "Capsicum": ["annuum", "frutescens"],
    "Solanum": ["tuberosum", "lycopersicum", "melongena"],
    "Allium": ["sativum", "cepa", "fistulosum", "tuberosum"],
    "Panax": ["ginseng", "notoginseng", "quinquefolius", "japonicus"],
    "Dendrobium": ["officinale", "nobile", "huoshanense", "chrysotoxum"],
    "Gastrodia": ["elata"],
    "Coptis": ["chinensis", "deltoidea", "teeta"],
    "Astragalus": ["membranaceus", "mongholicus"],
    "Glycyrrhiza": ["uralensis", "glabra", "inflata"],
    "Paris": ["polyphylla", "yunnanensis"],
    "Taxus": ["chinensis", "wallichiana", "cuspidata"],
    "Ginkgo": ["biloba"],
    "Magnolia": ["officinalis", "denudata", "sprengeri"],
    "Rhododendron": ["simsii", "delavayi", "arboreum", "yunnanense"],
    "Paeonia": ["lactiflora", "suffruticosa", "rockii", "ostii"],
    "Lilium": ["brownii", "davidii", "lancifolium", "regale"],
    "Cymbidium": ["goeringii", "ensifolium", "sinense", "faberi"],
    "Bambusa": ["vulgaris", "multiplex", "textilis"],
    "Phyllostachys": ["edulis", "nigra", "aurea"],
    "Pinus": ["massoniana", "tabuliformis", "yunnanensis", "armandii"],
    "Populus": ["tomentosa", "euphratica", "davidiana"],
    "Eucommia": ["ulmoides"],
    "Morus": ["alba", "nigra", "mongolica"],
    "Bombyx": ["mori", "mandarina"],
    "Apis": ["cerana", "mellifera"],
    "Sus": ["scrofa"],
    "Bos": ["taurus", "grunniens", "indicus"],
    "Capra": ["hircus"],
    "Ovis": ["aries", "ammon"],
    "Gallus": ["gallus"],
    "Anas": ["platyrhynchos"],
    "Cyprinus": ["carpio"],
    "Ctenopharyngodon": ["idella"],
    "Aspergillus": ["oryzae", "niger", "flavus"],
    "Saccharomyces": ["cerevisiae"],
    "Lactobacillus": ["plantarum", "casei", "acidophilus"],
    "Bacillus": ["subtilis", "thuringiensis", "licheniformis"],
    "Streptomyces": ["griseus", "coelicolor", "avermitilis"],
    "Ganoderma": ["lucidum", "sinense"],
    "Cordyceps": ["militaris", "sinensis"],
    "Tremella": ["fuciformis"],
    "Lentinula": ["edodes"],
}
COMMON = {
    "Oryza": ("野生稻", "wild rice"), "Glycine": ("野大豆", "wild soybean"),
    "Triticum": ("小麦", "wheat"), "Zea": ("玉米", "maize"), "Hordeum": ("大麦", "barley"),
    "Sorghum": ("高粱", "sorghum"), "Setaria": ("谷子", "foxtail millet"),
    "Panicum": ("黍", "broomcorn millet"), "Fagopyrum": ("荞麦", "buckwheat"),
    "Camellia": ("茶树", "tea plant"), "Citrus": ("柑橘", "citrus"), "Malus": ("苹果", "apple"),
    "Pyrus": ("梨", "pear"), "Prunus": ("桃李", "stone fruit"), "Vitis": ("葡萄", "grape"),
    "Actinidia": ("猕猴桃", "kiwifruit"), "Litchi": ("荔枝", "lychee"),
    "Dimocarpus": ("龙眼", "longan"), "Musa": ("野芭蕉", "wild banana"),
    "Brassica": ("白菜", "brassica"), "Cucumis": ("黄瓜", "cucumber"),
    "Capsicum": ("辣椒", "chili pepper"), "Solanum": ("马铃薯", "potato"),
    "Allium": ("大蒜", "garlic"), "Panax": ("人参", "ginseng"),
    "Dendrobium": ("石斛", "dendrobium orchid"), "Gastrodia": ("天麻", "gastrodia"),
    "Coptis": ("黄连", "goldthread"), "Astragalus": ("黄芪", "milkvetch"),
    "Glycyrrhiza": ("甘草", "licorice"), "Paris": ("重楼", "paris herb"),
    "Taxus": ("红豆杉", "yew"), "Ginkgo": ("银杏", "ginkgo"), "Magnolia": ("厚朴", "magnolia"),
    "Rhododendron": ("杜鹃", "rhododendron"), "Paeonia": ("牡丹", "peony"),
    "Lilium": ("百合", "lily"), "Cymbidium": ("兰花", "orchid"), "Bambusa": ("竹子", "bamboo"),
    "Phyllostachys": ("毛竹", "moso bamboo"), "Pinus": ("松树", "pine"),
    "Populus": ("杨树", "poplar"), "Eucommia": ("杜仲", "hardy rubber tree"),
    "Morus": ("桑树", "mulberry"), "Bombyx": ("家蚕", "silkworm"), "Apis": ("中华蜜蜂", "honeybee"),
    "Sus": ("地方猪", "local pig breed"), "Bos": ("牦牛", "cattle and yak"),
    "Capra": ("山羊", "goat"), "Ovis": ("绵羊", "sheep"), "Gallus": ("地方鸡", "local chicken"),
    "Anas": ("麻鸭", "duck"), "Cyprinus": ("鲤鱼", "carp"), "Ctenopharyngodon": ("草鱼", "grass carp"),
    "Aspergillus": ("曲霉", "koji mould"), "Saccharomyces": ("酵母", "yeast"),
    "Lactobacillus": ("乳酸菌", "lactic acid bacterium"), "Bacillus": ("芽孢杆菌", "bacillus"),
    "Streptomyces": ("链霉菌", "streptomyces"), "Ganoderma": ("灵芝", "lingzhi"),
    "Cordyceps": ("虫草", "cordyceps"), "Tremella": ("银耳", "snow fungus"),
    "Lentinula": ("香菇", "shiitake"),
}
MATERIALS = ["seed", "tissue", "strain", "dna", "rna", "whole_organism", "plant_part",
             "cell_line", "pollen", "extract", "specimen"]
UNITS = {"seed": "g", "tissue": "g", "strain": "items", "dna": "ug", "rna": "ug",
         "whole_organism": "items", "plant_part": "kg", "cell_line": "items", "pollen": "mg",
         "extract": "ml", "specimen": "items"}
USES_EN = ["screening for drought tolerance", "breeding for disease resistance",
           "genome sequencing", "conservation in the national gene bank",
           "screening for salt tolerance", "study of secondary metabolites",
           "development of a fermentation starter", "cold hardiness trials",
           "pest resistance mapping", "restoration planting", "flavour chemistry research",
           "pharmacological screening", "heat tolerance trials", "yield improvement"]
USES_ZH = ["抗旱筛选", "抗病育种", "基因组测序", "国家种质库保存", "耐盐筛选", "次生代谢物研究",
           "发酵菌种开发", "抗寒试验", "抗虫基因定位", "生态修复种植", "风味化学研究",
           "药理活性筛选", "耐热试验", "产量改良"]
SURNAMES = ["Li", "Wang", "Zhang", "Liu", "Chen", "Yang", "Zhao", "Huang", "Zhou", "Wu",
            "Xu", "Sun", "Hu", "Zhu", "Gao", "Lin", "He", "Guo", "Ma", "Luo", "Dao", "Yan"]
GIVEN = ["Wei", "Fang", "Min", "Jing", "Lei", "Jun", "Yan", "Hua", "Ping", "Qiang", "Xia",
         "Bo", "Ling", "Tao", "Hong", "Ying", "Gang", "Mei", "Jie", "Kun"]
ZH_NAMES = ["李伟", "王芳", "张敏", "刘静", "陈磊", "杨军", "赵艳", "黄华", "周平", "吴强",
            "岩温", "玉香", "刀建", "和丽"]
BANK_KINDS = ["Germplasm Bank", "Seed Company", "Agricultural Institute", "Botanical Garden",
              "Breeding Station", "Herb Cooperative", "Biotech Co., Ltd.", "University Lab"]
HOLDER_COUNT = 200
START = date.today() - timedelta(days=5 * 365)


def region_codes() -> list[str]:
    """The 50 shipped codes: every province, and prefectures and counties of pilot areas."""
    with regions.DATA.open(encoding="utf-8") as fh:
        return sorted(row["code"] for row in csv.DictReader(fh))


def holder_names() -> list[str]:
    codes = region_codes()
    names = []
    for i in range(HOLDER_COUNT):
        place = regions.lookup(codes[i % len(codes)]).name_en
        names.append(f"{place} {BANK_KINDS[i % len(BANK_KINDS)]} {i // len(codes) + 1}")
    return names


TAXA = [f"{genus} {species}" for genus, species_list in GENERA.items()
        for species in species_list]


def gr_rows(count: int, seed: int = 2026, *, with_registration_date: bool = True
            ) -> Iterator[dict]:
    rng = random.Random(seed)
    codes = region_codes()
    holders = holder_names()
    for i in range(count):
        taxon = rng.choice(TAXA)
        genus = taxon.split()[0]
        zh, en = COMMON[genus]
        material = rng.choice(MATERIALS)
        use = rng.randrange(len(USES_EN))
        collected = START + timedelta(days=rng.randrange(5 * 365))
        collector = (rng.choice(ZH_NAMES) if rng.random() < 0.4
                     else f"{rng.choice(SURNAMES)} {rng.choice(GIVEN)}")
        row = {
            "scientific_name": taxon,
            "taxon_rank": "species",
            "ncbi_taxon_id": 1000 + TAXA.index(taxon),
            "common_name": f"{zh} {en}" if rng.random() < 0.8 else None,
            "material_type": material,
            "quantity": str(rng.randrange(1, 5000) / 10),
            "quantity_unit": UNITS[material] if UNITS[material] != "ug" else "mg",
            "collection_region": rng.choice(codes),
            "latitude": f"{rng.uniform(18.2, 53.5):.5f}",
            "longitude": f"{rng.uniform(73.5, 134.7):.5f}",
            "collection_date": collected.isoformat(),
            "collector": collector,
            "holder": rng.choice(holders),
            "conservation": "ex_situ" if rng.random() < 0.7 else "in_situ",
            "intended_use": f"{USES_EN[use].capitalize()}; {USES_ZH[use]} ({zh})",
            "legacy_id": f"LEG-{i:07d}",
        }
        if with_registration_date:
            registered = min(collected + timedelta(days=rng.randrange(60)), date.today())
            row["registered_on"] = registered.isoformat()
        yield row
