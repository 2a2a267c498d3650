"""Value pools built once with Faker; rows then sample from them with numpy.

Faker is called a few thousand times here, never once per row. Pools are sorted
and de-duplicated so that the same seed always yields the same pools.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from faker import Faker

#: Product categories with their share of the catalogue and median price in cents.
CATEGORIES: tuple[tuple[str, float, int], ...] = (
    ("Electronics", 0.12, 14_900),
    ("Computers", 0.06, 59_900),
    ("Home & Kitchen", 0.14, 3_900),
    ("Clothing", 0.16, 2_900),
    ("Shoes", 0.06, 6_900),
    ("Beauty", 0.08, 1_900),
    ("Sports & Outdoors", 0.08, 4_900),
    ("Toys & Games", 0.07, 2_400),
    ("Books", 0.09, 1_500),
    ("Grocery", 0.06, 900),
    ("Garden", 0.04, 3_400),
    ("Automotive", 0.04, 5_900),
)

#: Nouns per category, combined with Faker adjectives/colours into product names.
CATEGORY_NOUNS: dict[str, tuple[str, ...]] = {
    "Electronics": ("Headphones", "Speaker", "Camera", "Smartwatch", "Charger", "Earbuds"),
    "Computers": ("Laptop", "Monitor", "Keyboard", "Mouse", "Router", "SSD"),
    "Home & Kitchen": ("Blender", "Pan", "Knife Set", "Kettle", "Lamp", "Towel Set"),
    "Clothing": ("T-Shirt", "Jacket", "Jeans", "Hoodie", "Dress", "Sweater"),
    "Shoes": ("Sneakers", "Boots", "Sandals", "Loafers", "Running Shoes"),
    "Beauty": ("Serum", "Lipstick", "Shampoo", "Moisturizer", "Perfume"),
    "Sports & Outdoors": ("Yoga Mat", "Tent", "Backpack", "Dumbbells", "Bike Helmet"),
    "Toys & Games": ("Puzzle", "Board Game", "Building Set", "Doll", "RC Car"),
    "Books": ("Novel", "Cookbook", "Biography", "Guide", "Anthology"),
    "Grocery": ("Coffee", "Tea", "Olive Oil", "Chocolate", "Granola"),
    "Garden": ("Hose", "Planter", "Pruner", "Seeds", "Lawn Chair"),
    "Automotive": ("Car Cover", "Dash Cam", "Floor Mats", "Jump Starter", "Wiper Blades"),
}

SEGMENTS = ("Premium", "Regular", "New")
TIERS = ("Gold", "Silver", "Bronze", "None")
ORDER_STATUSES = ("Pending", "Processing", "Shipped", "Delivered", "Cancelled")
TRANSACTION_TYPES = ("IN", "OUT", "ADJUSTMENT")
CHANNELS = ("EMAIL", "SMS", "SOCIAL", "DISPLAY", "SEARCH")
CHANNEL_WEIGHTS = (0.30, 0.10, 0.25, 0.15, 0.20)

#: Values that the contract quarantines (not in the allowed sets even after trim).
BAD_STATUSES = ("Returned", "UNKNOWN", "shipped", "On Hold", "")
BAD_TRANSACTION_TYPES = ("TRANSFER", "in", "RETURN", "adj", "?")

PRODUCT_ADJECTIVES = (
    "Classic", "Compact", "Deluxe", "Eco", "Essential", "Premium", "Pro", "Smart", "Ultra",
    "Vintage", "Wireless", "Portable", "Everyday", "Lightweight", "Heavy-Duty", "Organic",
)  # fmt: skip

EMAIL_DOMAINS_FIXED = ("gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "icloud.com")


@dataclass(frozen=True)
class Pools:
    first_names: np.ndarray
    last_names: np.ndarray
    email_domains: np.ndarray
    email_domain_weights: np.ndarray
    adjectives: np.ndarray
    brands: np.ndarray
    colors: np.ndarray
    campaign_words: np.ndarray


def _unique_sorted(values: list[str]) -> np.ndarray:
    return np.array(sorted(set(values)), dtype=object)


def build_pools(seed: int, *, size: int = 2000) -> Pools:
    """Build every pool from a Faker seeded with ``seed`` (deterministic)."""
    fake = Faker("en_US")
    fake.seed_instance(seed)
    first = _unique_sorted([fake.first_name() for _ in range(size)])
    last = _unique_sorted([fake.last_name() for _ in range(size)])
    # Email local parts must stay ASCII-safe: keep letters only.
    first = np.array([n for n in first if n.isascii() and n.isalpha()], dtype=object)
    last = np.array([n for n in last if n.isascii() and n.isalpha()], dtype=object)
    extra_domains = _unique_sorted([fake.free_email_domain() for _ in range(50)])
    company_domains = _unique_sorted([fake.domain_name() for _ in range(200)])
    domains = list(EMAIL_DOMAINS_FIXED)
    domains += [d for d in extra_domains if d not in domains]
    domains += [d for d in company_domains if d not in domains]
    n_fixed = len(EMAIL_DOMAINS_FIXED)
    weights = np.full(len(domains), 0.15 / max(1, len(domains) - n_fixed))
    weights[:n_fixed] = np.array([0.35, 0.2, 0.12, 0.1, 0.08])
    weights = weights / weights.sum()
    adjectives = np.array(PRODUCT_ADJECTIVES, dtype=object)
    brands = _unique_sorted([fake.last_name() for _ in range(400)])
    brands = np.array([b for b in brands if b.isascii() and b.isalpha()], dtype=object)
    colors = _unique_sorted([fake.color_name() for _ in range(300)])
    campaign_words = _unique_sorted([fake.catch_phrase().split()[-1].title() for _ in range(300)])
    return Pools(
        first_names=first,
        last_names=last,
        email_domains=np.array(domains, dtype=object),
        email_domain_weights=weights,
        adjectives=adjectives,
        brands=brands,
        colors=colors,
        campaign_words=campaign_words,
    )
