"""Defaults of the clustering, calibrated on two unlike sets and checked on a third.

Measured with ``bench/grouping_quality.py`` (engine descriptors: subject embedding + colour, weight 1):
the best average-linkage threshold was 0.25 on the sod300 near-duplicate set (studio-like: one object
in several versions, colourways kept apart) and 0.225-0.25 on grocery_val (shop photos), so one
absolute cosine distance transfers between them; 0.25 is the default. A threshold relative to each
batch's distance distribution was tried and rejected: the median pairwise distance barely moves
between these sets (0.65-0.76), and it collapses on a batch of one product's photos, which it would
then split. HDBSCAN (with this threshold as a ceiling) scored slightly higher ARI on the labelled sets
but merged more distinct products on fashion_products, so it is an option, not the default.
"""

from typing import Literal

ClusterMethod = Literal["average", "hdbscan"]
DEFAULT_THRESHOLD = 0.25
DEFAULT_METHOD: ClusterMethod = "average"
