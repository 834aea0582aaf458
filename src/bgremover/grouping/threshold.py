"""Defaults of the clustering, calibrated on two unlike sets and checked on a third.

Measured with ``bench/grouping_quality.py`` (engine descriptors: subject embedding + colour, weight 1,
average linkage): the best threshold was 0.25 on the sod300 near-duplicate set (one object in several
versions and backgrounds, colourways kept apart), 0.225-0.25 on grocery_val (shop photos, ARI 0.489
at 0.225 against 0.485 at 0.25) and 0.25 with its iconic shots added, so one absolute cosine distance
transfers between them; 0.25 is the default. A threshold relative to each batch's distance
distribution was tried and rejected: the median pairwise distance barely moves between these sets
(0.65-0.76), and on a batch of one product's photos it collapses, which would split that product.
HDBSCAN with this threshold as a ceiling was measured too: better on sod300 (0.859 against 0.837),
worse on grocery_val (0.472 against 0.485), slightly fewer false merges on fashion_products; no clear
winner, so the simpler and more predictable average linkage is the default and HDBSCAN an option.

Re-checked after issue 13 (24-hue colour, geometric verification): 0.225 / 0.25 / 0.275 scored ARI
0.563 / 0.575 / 0.550 on grocery_val and 0.834 / 0.845 / 0.806 on the sod300 near-duplicate set, and
wrongly grouped 28% / 31% / 42% of distinct fashion_products photos, so 0.25 stays. A distance mixed
with the Jaccard distance of the photos' (mutual) 3-8 nearest neighbours was measured too: better on the
near-duplicates (up to 0.90), but at most 0.515 on grocery_val (against 0.575 without it) among the
settings that wrongly grouped no more fashion photos than the engine before issue 13 (39.5%).
"""

from typing import Literal

ClusterMethod = Literal["average", "hdbscan"]
DEFAULT_THRESHOLD = 0.25
DEFAULT_METHOD: ClusterMethod = "average"
