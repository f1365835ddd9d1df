"""Deterministic synthetic B2B distributor ("demo data") with planted ground truth.

:func:`generate_demo` is a pure function of :class:`DemoParams` (accounts, seed, end
date, years of history): the same parameters give the same tables and the same planted
truth, byte for byte. It is vectorised with numpy (loops run per account at most, and
only for cheap string work), so 100,000 accounts and about ten million order lines take
seconds, not minutes. :func:`write_demo` loads the result into a store with
:mod:`store.bulk`; :func:`write_planted_truth` writes ``planted_truth.csv``.

The business it imitates is a foodservice / jan-san / MRO distributor:

- a sales team (a VP, three regional managers with five to seven reps each, an admin);
- customer accounts in eight segments (food service, healthcare, education, hospitality,
  manufacturing, office & property management, retail, government), each with
  industries, a region and city, a size band, employees, and a power-law spend scale;
  a few prospects (accounts from converted leads whose first deal is open or lost);
- a catalogue of sixteen categories with subcategories and 10-30 products each;
- per account x category purchase streams: the account orders on its delivery weekday
  every few weeks (weekly to every 12 weeks) and each category rides on every k-th
  order, so category cycles run from weekly to quarterly; quantities carry noise,
  education has a summer trough and hospitality a summer peak; products within a
  category are chosen by subcategory so items are bought together;
- behaviours with known answers (the planted truth, see :data:`PLANTED_KINDS`):
  whole-account defections (a stop, or a decay to one basic product: spend down 70% or
  more), single-category defections, cross-sell gaps, adoptions of peer-typical
  categories (probability driven by the industry's affinity and complementary categories,
  so peers carry signal), seasonal buyers in their off-season, one-off buyers, volatile
  buyers and new accounts;
- an opportunity pipeline (prospecting -> qualification -> needs analysis -> proposal ->
  negotiation -> closed won / closed lost) with stage history, realistic durations
  (most deals take four months or more), stage-dependent win rates, stuck deals and deals
  gone quiet; leads by source (referrals convert far better than outbound); activities;
  contacts with buying-group roles; quarterly quotas; and a few call transcripts.

Planted truth contract (``planted_truth.csv``): columns ``account_external_id``,
``category`` (empty for the whole account), ``kind``, ``since`` (ISO date or empty),
``note``. Kinds: ``defection``, ``category_defection``, ``cross_sell_gap``, ``adoption``,
``seasonal``, ``one_off``, ``volatile``, ``new`` (meanings in :data:`PLANTED_KINDS`).
The labels are read back from the generated orders, so each one holds in the data:
defections are the planted ones (30-120 days before the end) plus natural churn earlier in
history (about 4% of accounts a year, also labelled); category defections likewise;
cross-sell gaps are every established account missing a category that at least 60% of its
segment buys (planted gaps plus the ones the draw left); adoptions are first purchases in
the last 90 days by accounts buying for at least 180 days.

``--accounts N`` counts every account record, including about 4% prospects without orders.
"""

from __future__ import annotations

import csv
import datetime as dt
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Table, select
from sqlalchemy.engine import Engine

from store.bulk import BulkLoad, BulkReport, bulk_load, clear_tables
from store.models import (
    Account,
    AccountHealth,
    AccountTeamMember,
    Activity,
    Call,
    CategoryHealth,
    CoachingFlag,
    Competitor,
    Contact,
    CustomTracker,
    DigestSent,
    DigestSubscription,
    Lead,
    Opportunity,
    OpportunityStageHistory,
    Order,
    OrderLine,
    Product,
    Recommendation,
    Rep,
    ScoreRun,
    Target,
    Utterance,
)

DEMO_DOMAIN = "demo-distributor.example"
DEMO_REP_EMAIL = f"jordan.reyes@{DEMO_DOMAIN}"
"""A rep in the East team whose book always holds slipping accounts, lapsed categories,
cross-sell gaps (including the near-duplicates "Acme Foods" / "Acme Food Service"),
open deals (one stuck in proposal, one gone quiet) and recent calls."""
DEMO_MANAGER_EMAIL = f"priya.shah@{DEMO_DOMAIN}"
"""The East team's manager (Jordan Reyes reports to her)."""
DEMO_VP_EMAIL = f"dana.whitfield@{DEMO_DOMAIN}"
DEMO_ADMIN_EMAIL = f"sam.okafor@{DEMO_DOMAIN}"

STAGES = (
    "prospecting",
    "qualification",
    "needs_analysis",
    "proposal",
    "negotiation",
)
"""Open stages in order; a deal ends in ``closed_won`` or ``closed_lost``."""
WON_STAGE = "closed_won"
LOST_STAGE = "closed_lost"
FORECAST_CATEGORY = {
    "prospecting": "pipeline",
    "qualification": "pipeline",
    "needs_analysis": "best_case",
    "proposal": "best_case",
    "negotiation": "commit",
    WON_STAGE: "closed",
    LOST_STAGE: "omitted",
}

PLANTED_KINDS: dict[str, str] = {
    "defection": "whole account stopped ordering or its spend dropped sharply (by 70% or more) from `since`",
    "category_defection": "stopped buying `category` from `since` while still buying others",
    "cross_sell_gap": "never bought `category` although >= 60% of its segment peers do",
    "adoption": "first bought the peer-typical `category` on `since`, in the last 90 days",
    "seasonal": "seasonal buyer in its yearly off-season since `since`: not a defection",
    "one_off": "a single order on `since`: not a defection",
    "volatile": "irregular buyer whose current gap is within its own usual range",
    "new": "first order on `since`, within the last 60 days: too new to judge",
}
PLANTED_TRUTH_COLUMNS = ("account_external_id", "category", "kind", "since", "note")
PLANTED_TRUTH_FILE = "planted_truth.csv"

ADOPTION_WINDOW_DAYS = 90
NEW_ACCOUNT_DAYS = 60
CROSS_SELL_PEER_SHARE = 0.6


class DemoDataError(ValueError):
    """The demo-data parameters cannot produce a sensible data set."""


class StoreNotEmptyError(RuntimeError):
    """The store already holds business data and replacing it was not asked for."""


# =====================================================================================
# Reference data: team, geography, catalogue, segments, names, call templates
# =====================================================================================

VP = ("Dana Whitfield", "VP of Sales", "America/New_York")
ADMIN = ("Sam Okafor", "Sales Operations Manager", "America/Chicago")
TEAMS: tuple[tuple[str, str, str, tuple[str, ...], tuple[tuple[str, str], ...]], ...] = (
    (
        "East",
        "Priya Shah",
        "America/New_York",
        ("Northeast", "Mid-Atlantic", "Southeast"),
        (
            ("Jordan Reyes", "America/New_York"),
            ("Aisha Grant", "America/New_York"),
            ("Tom Kowalski", "America/New_York"),
            ("Lena Fischer", "America/New_York"),
            ("Carlos Mendez", "America/New_York"),
            ("Grace Liu", "America/New_York"),
        ),
    ),
    (
        "Central",
        "Marcus Bell",
        "America/Chicago",
        ("Midwest", "South Central"),
        (
            ("Hannah Olsen", "America/Chicago"),
            ("Derek Washington", "America/Chicago"),
            ("Sofia Alvarez", "America/Chicago"),
            ("Nate Brooks", "America/Chicago"),
            ("Ruth Adeyemi", "America/Chicago"),
        ),
    ),
    (
        "West",
        "Elena Novak",
        "America/Los_Angeles",
        ("Mountain", "Southwest", "Pacific Northwest", "California"),
        (
            ("Kenji Watanabe", "America/Los_Angeles"),
            ("Maria Rossi", "America/Los_Angeles"),
            ("Owen Parker", "America/Denver"),
            ("Fatima Haddad", "America/Phoenix"),
            ("Lucas Meyer", "America/Los_Angeles"),
            ("Zoe Campbell", "America/Los_Angeles"),
            ("Ben Carter", "America/Denver"),
        ),
    ),
)

REGIONS: tuple[tuple[str, float, tuple[str, ...]], ...] = (
    ("Northeast", 0.11, ("Boston, MA", "Hartford, CT", "Providence, RI", "Albany, NY", "Portland, ME", "Burlington, VT")),
    ("Mid-Atlantic", 0.12, ("Philadelphia, PA", "Baltimore, MD", "Newark, NJ", "Pittsburgh, PA", "Wilmington, DE", "Richmond, VA")),
    ("Southeast", 0.14, ("Atlanta, GA", "Charlotte, NC", "Raleigh, NC", "Orlando, FL", "Tampa, FL", "Nashville, TN", "Charleston, SC")),
    ("Midwest", 0.15, ("Chicago, IL", "Columbus, OH", "Indianapolis, IN", "Milwaukee, WI", "Minneapolis, MN", "Detroit, MI", "St. Louis, MO", "Kansas City, MO")),
    ("South Central", 0.13, ("Dallas, TX", "Houston, TX", "Austin, TX", "San Antonio, TX", "Oklahoma City, OK", "New Orleans, LA", "Little Rock, AR")),
    ("Mountain", 0.07, ("Denver, CO", "Salt Lake City, UT", "Boise, ID", "Albuquerque, NM", "Colorado Springs, CO")),
    ("Southwest", 0.06, ("Phoenix, AZ", "Tucson, AZ", "Las Vegas, NV", "Scottsdale, AZ")),
    ("Pacific Northwest", 0.08, ("Seattle, WA", "Portland, OR", "Spokane, WA", "Tacoma, WA", "Eugene, OR")),
    ("California", 0.14, ("Los Angeles, CA", "San Diego, CA", "Sacramento, CA", "San Jose, CA", "Fresno, CA", "Oakland, CA")),
)  # fmt: skip

# (category, share of orders it rides on, relative annual spend, subcategories with
#  (product, list price per case/unit))
CATALOG: tuple[tuple[str, float, float, tuple[tuple[str, tuple[tuple[str, float], ...]], ...]], ...] = (
    ("Disposables", 0.85, 1.6, (
        ("Cups & Lids", (("Hot Cup 12 oz, case of 1000", 78.0), ("Hot Cup 16 oz, case of 1000", 89.0), ("Cold Cup 16 oz, case of 1000", 72.0), ("Cold Cup 24 oz, case of 600", 68.0), ("Dome Lid for Cold Cups, case of 1000", 41.0), ("Sip Lid for Hot Cups, case of 1000", 44.0))),
        ("Cutlery", (("Wrapped Cutlery Kit, case of 500", 38.0), ("Heavy Forks, case of 1000", 27.0), ("Heavy Knives, case of 1000", 29.0), ("Compostable Spoons, case of 1000", 34.0))),
        ("Plates & Bowls", (("Foam Plate 9 in, case of 500", 31.0), ("Bagasse Plate 10 in, case of 500", 58.0), ("Soup Bowl 12 oz, case of 1000", 52.0))),
        ("Take-out Containers", (("Hinged Container 9x9, case of 200", 46.0), ("Deli Container 16 oz, case of 240", 39.0), ("Kraft Take-out Box #8, case of 300", 55.0), ("Clear Salad Bowl 32 oz, case of 300", 61.0), ("Portion Cup 2 oz, case of 2500", 33.0))),
    )),
    ("Paper Products", 0.6, 1.0, (
        ("Toilet Tissue", (("2-Ply Toilet Tissue, 96 rolls", 64.0), ("Jumbo Roll Tissue 9 in, 12 rolls", 48.0), ("Coreless Tissue, 36 rolls", 71.0))),
        ("Paper Towels", (("Multifold Towels, 4000 sheets", 42.0), ("Hardwound Roll Towel 8 in, 6 rolls", 52.0), ("Kitchen Roll Towels, 30 rolls", 45.0), ("Center-Pull Towels, 6 rolls", 49.0))),
        ("Napkins", (("Beverage Napkin 1-Ply, case of 4000", 29.0), ("Dinner Napkin 2-Ply, case of 3000", 54.0), ("Dispenser Napkin, case of 6000", 47.0))),
        ("Facial Tissue", (("Facial Tissue Flat Box, 30 boxes", 39.0), ("Facial Tissue Cube, 36 boxes", 46.0))),
        ("Dispensers", (("Roll Towel Dispenser", 62.0), ("Jumbo Tissue Dispenser", 38.0), ("Napkin Dispenser, Tabletop", 24.0))),
    )),
    ("Cleaning Supplies", 0.5, 0.9, (
        ("Surface Cleaners", (("Glass Cleaner RTU, 12 qt", 36.0), ("All-Purpose Cleaner Concentrate, 4 gal", 58.0), ("Stainless Steel Polish, 12 cans", 49.0))),
        ("Disinfectants", (("Quat Disinfectant Concentrate, 4 gal", 74.0), ("Disinfecting Wipes, 6 canisters", 44.0), ("Hospital-Grade Spray, 12 qt", 67.0))),
        ("Hand Care", (("Foam Hand Soap Refill, 4 x 1200 ml", 63.0), ("Hand Sanitizer Gel Refill, 4 x 1000 ml", 71.0), ("Touch-Free Soap Dispenser", 35.0))),
        ("Mops & Brooms", (("Wet Mop Head, 12 pack", 41.0), ("Microfiber Flat Mop Pad, 12 pack", 38.0), ("Angle Broom, 12 pack", 52.0), ("Microfiber Cloths, 48 pack", 29.0))),
    )),
    ("Chemicals", 0.45, 0.8, (
        ("Warewashing", (("Dish Machine Detergent, 5 gal", 96.0), ("Rinse Aid, 5 gal", 88.0), ("Pot & Pan Detergent, 4 gal", 54.0), ("Sanitizer Tablets, 150 ct", 39.0))),
        ("Laundry Chemicals", (("Laundry Detergent, 5 gal", 104.0), ("Laundry Destainer, 5 gal", 92.0), ("Fabric Softener, 5 gal", 78.0))),
        ("Floor Care Chemicals", (("Floor Finish, 5 gal", 118.0), ("Floor Stripper, 5 gal", 96.0), ("Neutral Floor Cleaner, 4 gal", 48.0))),
        ("Degreasers", (("Heavy-Duty Degreaser, 4 gal", 66.0), ("Oven & Grill Cleaner, 12 qt", 59.0), ("Drain Maintainer, 4 gal", 71.0))),
    )),
    ("Janitorial Equipment", 0.1, 0.5, (
        ("Vacuums", (("Upright Vacuum 14 in", 289.0), ("Backpack Vacuum", 459.0), ("Wet/Dry Vacuum 15 gal", 379.0))),
        ("Floor Machines", (("Floor Burnisher 20 in", 2480.0), ("Auto Scrubber 20 in", 4950.0), ("Floor Machine Pads, 5 pack", 42.0))),
        ("Carts & Buckets", (("Janitor Cart", 268.0), ("Mop Bucket & Wringer 35 qt", 119.0), ("Wet Floor Sign, 6 pack", 74.0))),
        ("Receptacles", (("Round Receptacle 44 gal", 68.0), ("Step Can 23 gal", 96.0), ("Recycling Station, 3 stream", 329.0))),
    )),
    ("Waste & Recycling", 0.45, 0.5, (
        ("Can Liners", (("Can Liner 16 gal, case of 1000", 42.0), ("Can Liner 33 gal, case of 250", 38.0), ("Can Liner 60 gal, case of 200", 52.0), ("Can Liner 45 gal, case of 250", 44.0), ("Can Liner 56 gal, case of 200", 47.0), ("Heavy Contractor Bag, case of 50", 36.0))),
        ("Recycling", (("Clear Recycling Liner 56 gal, case of 200", 49.0), ("Blue Recycling Liner 33 gal, case of 250", 46.0), ("Baler Twine, 2 spools", 39.0), ("Desk-side Recycling Bin", 9.5))),
        ("Compostables", (("Compostable Bag 13 gal, case of 400", 58.0), ("Compostable Liner 33 gal, case of 100", 64.0), ("Kitchen Compost Pail", 22.0))),
    )),
    ("Food Service Equipment", 0.12, 0.6, (
        ("Cookware", (("Aluminum Sheet Pan, 12 pack", 96.0), ("Stock Pot 40 qt", 112.0), ("Fry Pan 12 in", 34.0))),
        ("Smallwares", (("Tongs 12 in, 12 pack", 38.0), ("Ladle 8 oz, 12 pack", 64.0), ("Cutting Board Set", 72.0), ("Chef Knife 10 in", 29.0))),
        ("Food Storage", (("Food Storage Container 22 qt", 19.0), ("Ingredient Bin", 118.0), ("Food Pan Full Size, 6 pack", 79.0))),
        ("Kitchen Safety", (("Digital Probe Thermometer", 24.0), ("Cut-Resistant Glove", 14.0), ("First Aid Burn Kit", 46.0))),
    )),
    ("Food Prep Supplies", 0.75, 1.1, (
        ("Foil & Film", (("Aluminum Foil Roll 18 in", 42.0), ("Cling Film 18 in", 28.0), ("Foil Sheets 12x14, 500", 36.0))),
        ("Food Prep", (("Pan Liner Parchment, 1000", 48.0), ("Deli Paper, case of 6000", 44.0), ("Food Storage Bags 1 gal, 500", 34.0), ("Piping Bags, 100", 26.0))),
        ("Kitchen Gloves", (("Vinyl Food Service Gloves, case of 1000", 31.0), ("Nitrile Kitchen Gloves, case of 1000", 46.0))),
        ("Labels", (("Day-of-Week Labels, 7 rolls", 39.0), ("Dissolvable Food Labels, 1000", 21.0))),
    )),
    ("Beverages", 0.65, 0.9, (
        ("Coffee", (("Medium Roast Coffee, 42 packs", 89.0), ("Dark Roast Whole Bean, 5 lb", 54.0), ("Decaf Coffee, 42 packs", 92.0), ("Single-Serve Coffee Pods, 96", 58.0))),
        ("Tea", (("Assorted Tea Bags, 6 x 100", 48.0), ("Iced Tea Brew Bags, 24", 36.0))),
        ("Bottled Water", (("Spring Water 16.9 oz, 24 pack", 9.5), ("Sparkling Water 12 oz, 24 pack", 16.0))),
        ("Juice & Soft Drinks", (("Orange Juice 10 oz, 48", 38.0), ("Cola 12 oz, 24 pack", 14.0), ("Lemonade Concentrate, 3 gal", 45.0))),
    )),
    ("Breakroom", 0.45, 0.5, (
        ("Snacks", (("Granola Bars, 48 ct", 29.0), ("Assorted Chips, 50 ct", 31.0), ("Trail Mix Packs, 36 ct", 33.0))),
        ("Coffee Service", (("Creamer Cups, 400 ct", 26.0), ("Sugar Packets, 2000 ct", 22.0), ("Stir Sticks, 10000 ct", 18.0), ("Paper Hot Cups 10 oz, 1000", 52.0))),
        ("Breakroom Disposables", (("Paper Plates 9 in, 500", 29.0), ("Plastic Cutlery Combo, 600", 24.0), ("Breakroom Napkins, 3000", 26.0))),
    )),
    ("Safety & PPE", 0.5, 0.9, (
        ("Gloves", (("Nitrile Gloves, case of 1000", 64.0), ("Cut-Resistant Gloves, 12 pairs", 58.0), ("Leather Work Gloves, 12 pairs", 72.0))),
        ("Respiratory", (("N95 Respirators, 20", 34.0), ("Disposable Face Masks, 500", 29.0))),
        ("Eye & Hearing", (("Safety Glasses, 12 pack", 36.0), ("Ear Plugs, 200 pairs", 32.0), ("Face Shield, 12 pack", 41.0))),
        ("Hi-Vis & Apparel", (("Hi-Vis Vest, 10 pack", 54.0), ("Disposable Coveralls, 25", 89.0), ("Shoe Covers, 300", 38.0))),
        ("First Aid", (("First Aid Kit, 50 person", 79.0), ("Eyewash Station Refill", 46.0))),
    )),
    ("Medical Supplies", 0.7, 1.5, (
        ("Exam Gloves", (("Nitrile Exam Gloves, case of 1000", 72.0), ("Latex-Free Exam Gloves XL, case of 900", 76.0))),
        ("Wound Care", (("Gauze Sponges 4x4, 2000", 54.0), ("Adhesive Bandages, 1200", 38.0), ("Medical Tape, 12 rolls", 29.0))),
        ("Exam Room", (("Exam Table Paper, 12 rolls", 62.0), ("Patient Gowns, 50", 48.0), ("Specimen Cups, 100", 32.0), ("Tongue Depressors, 500", 12.0))),
        ("Incontinence & Personal Care", (("Adult Briefs M, 80", 64.0), ("Underpads, 150", 58.0), ("Personal Cleansing Wipes, 576", 52.0))),
        ("Infection Prevention", (("Sharps Container 2 gal, 20", 88.0), ("Isolation Gowns, 100", 96.0), ("Disinfecting Germicidal Wipes, 12 tubs", 84.0))),
    )),
    ("Office Supplies", 0.35, 0.5, (
        ("Paper", (("Copy Paper Letter, 10 reams", 52.0), ("Copy Paper Legal, 10 reams", 64.0), ("Colored Paper, 5 reams", 38.0))),
        ("Writing", (("Ballpoint Pens, 60", 18.0), ("Dry-Erase Markers, 12", 14.0), ("Highlighters, 24", 16.0))),
        ("Filing & Labels", (("File Folders, 100", 16.0), ("Shipping Labels, 1000", 39.0), ("Binder 2 in, 12", 44.0))),
        ("Toner & Ink", (("Black Toner Cartridge", 118.0), ("Color Toner Set", 289.0))),
        ("Desk Accessories", (("Sticky Notes, 24 pads", 21.0), ("Stapler & Staples Kit", 19.0))),
    )),
    ("Packaging", 0.55, 0.9, (
        ("Boxes", (("Shipping Box 12x12x12, 25", 32.0), ("Shipping Box 18x12x10, 25", 41.0), ("Corrugated Tray, 50", 46.0))),
        ("Tape", (("Packing Tape 2 in, 36 rolls", 58.0), ("Masking Tape 1 in, 36 rolls", 49.0))),
        ("Stretch Film", (("Hand Stretch Film 18 in, 4 rolls", 69.0), ("Machine Stretch Film 20 in, 1 roll", 84.0))),
        ("Mailers & Bags", (("Poly Mailer 10x13, 500", 44.0), ("Retail Shopping Bags, 500", 51.0), ("Produce Bags on Roll, 4 rolls", 47.0))),
        ("Void Fill", (("Air Pillows, 1 roll", 39.0), ("Kraft Paper Void Fill, 1 roll", 46.0))),
    )),
    ("Maintenance & MRO", 0.25, 0.6, (
        ("Lighting", (("LED Tube 4 ft, 10 pack", 79.0), ("LED A19 Bulb, 24 pack", 62.0), ("Exit Sign LED", 54.0))),
        ("Batteries", (("AA Batteries, 48", 29.0), ("AAA Batteries, 48", 29.0), ("9V Batteries, 12", 36.0))),
        ("HVAC Filters", (("Pleated Filter 20x20x2, 12", 96.0), ("Pleated Filter 16x25x1, 12", 74.0))),
        ("Hardware & Lubricants", (("Multi-Purpose Lubricant, 12 cans", 54.0), ("Assorted Fastener Kit", 42.0), ("Duct Tape, 24 rolls", 88.0))),
    )),
    ("Laundry & Linens", 0.3, 0.7, (
        ("Towels", (("Bath Towel 27x54, dozen", 68.0), ("Hand Towel 16x30, dozen", 32.0), ("Bar Mop Towels, 60", 44.0))),
        ("Bed Linens", (("Flat Sheet Queen, dozen", 96.0), ("Pillowcase, 2 dozen", 52.0), ("Blanket Twin, 6", 84.0))),
        ("Table Linens", (("Tablecloth 54x54, dozen", 72.0), ("Linen Napkins, 3 dozen", 58.0))),
        ("Uniforms", (("Bib Apron, dozen", 46.0), ("Chef Coat", 28.0), ("Housekeeping Smock", 24.0))),
    )),
)  # fmt: skip

CATEGORY_NAMES = tuple(c[0] for c in CATALOG)
_C = {name: i for i, name in enumerate(CATEGORY_NAMES)}

# Complementary categories: buying one makes adopting the other more likely.
COMPLEMENTS = (
    ("Disposables", "Food Prep Supplies"),
    ("Cleaning Supplies", "Chemicals"),
    ("Cleaning Supplies", "Janitorial Equipment"),
    ("Paper Products", "Waste & Recycling"),
    ("Medical Supplies", "Safety & PPE"),
    ("Office Supplies", "Breakroom"),
    ("Breakroom", "Beverages"),
    ("Packaging", "Safety & PPE"),
    ("Maintenance & MRO", "Janitorial Equipment"),
    ("Laundry & Linens", "Chemicals"),
    ("Food Service Equipment", "Food Prep Supplies"),
)

# segment -> (share of accounts, base category affinity, industries with
# (industry, weight, affinity multipliers, employees median, revenue per employee))
SEGMENTS: tuple[tuple[str, float, dict[str, float], tuple[tuple[str, float, dict[str, float], int, int], ...]], ...] = (
    ("Food Service", 0.22,
     {"Disposables": .95, "Food Prep Supplies": .93, "Cleaning Supplies": .9, "Chemicals": .88, "Paper Products": .5, "Waste & Recycling": .35, "Food Service Equipment": .35, "Beverages": .4, "Safety & PPE": .3, "Laundry & Linens": .2, "Janitorial Equipment": .1, "Packaging": .2, "Breakroom": .05, "Office Supplies": .05, "Maintenance & MRO": .08},
     (("Restaurant", .45, {"Laundry & Linens": 1.5, "Food Service Equipment": 1.2}, 25, 80_000),
      ("Quick Service", .25, {"Packaging": 2.0, "Food Service Equipment": .7}, 20, 70_000),
      ("Catering", .15, {"Beverages": 1.5, "Laundry & Linens": 1.8}, 18, 90_000),
      ("Contract Cafeteria", .15, {"Beverages": 1.4, "Breakroom": 4.0}, 60, 75_000))),
    ("Healthcare", 0.13,
     {"Medical Supplies": .95, "Safety & PPE": .92, "Cleaning Supplies": .9, "Paper Products": .86, "Waste & Recycling": .4, "Chemicals": .3, "Laundry & Linens": .4, "Janitorial Equipment": .2, "Disposables": .3, "Breakroom": .25, "Office Supplies": .3, "Food Prep Supplies": .15, "Beverages": .15, "Maintenance & MRO": .15},
     (("Hospital", .2, {"Laundry & Linens": 1.6, "Food Prep Supplies": 2.5, "Chemicals": 1.5}, 900, 150_000),
      ("Clinic", .35, {"Laundry & Linens": .6, "Waste & Recycling": .8}, 40, 140_000),
      ("Senior Living", .3, {"Food Prep Supplies": 3.0, "Disposables": 2.0, "Laundry & Linens": 1.7}, 120, 60_000),
      ("Dental Practice", .15, {"Laundry & Linens": .3, "Office Supplies": 1.8}, 15, 160_000))),
    ("Education", 0.12,
     {"Paper Products": .94, "Cleaning Supplies": .92, "Office Supplies": .88, "Waste & Recycling": .4, "Janitorial Equipment": .3, "Chemicals": .3, "Disposables": .4, "Breakroom": .3, "Food Prep Supplies": .3, "Safety & PPE": .2, "Food Service Equipment": .15, "Beverages": .15, "Maintenance & MRO": .2, "Medical Supplies": .1},
     (("K-12 School", .55, {"Food Prep Supplies": 1.6, "Disposables": 1.3}, 150, 50_000),
      ("University", .2, {"Food Service Equipment": 2.0, "Beverages": 2.0, "Laundry & Linens": 2.0}, 1500, 90_000),
      ("Childcare", .25, {"Medical Supplies": 2.0, "Disposables": 1.5, "Breakroom": .5}, 20, 45_000))),
    ("Hospitality", 0.14,
     {"Disposables": .9, "Paper Products": .9, "Laundry & Linens": .5, "Cleaning Supplies": .9, "Chemicals": .45, "Beverages": .45, "Breakroom": .15, "Waste & Recycling": .35, "Food Prep Supplies": .4, "Food Service Equipment": .3, "Janitorial Equipment": .2, "Safety & PPE": .2, "Maintenance & MRO": .2, "Office Supplies": .1},
     (("Hotel", .4, {"Laundry & Linens": 1.25, "Breakroom": 1.5}, 80, 70_000),
      ("Resort", .15, {"Beverages": 1.3, "Laundry & Linens": 1.25}, 200, 80_000),
      ("Bar & Nightlife", .3, {"Beverages": 1.45, "Laundry & Linens": .3, "Food Prep Supplies": .8}, 15, 85_000),
      ("Event Venue", .15, {"Food Service Equipment": 1.5, "Laundry & Linens": 1.1}, 40, 90_000))),
    ("Manufacturing", 0.12,
     {"Safety & PPE": .95, "Maintenance & MRO": .88, "Packaging": .8, "Cleaning Supplies": .5, "Paper Products": .5, "Breakroom": .4, "Waste & Recycling": .35, "Janitorial Equipment": .3, "Chemicals": .35, "Office Supplies": .25, "Beverages": .2, "Disposables": .15, "Medical Supplies": .1},
     (("Food Processing", .3, {"Packaging": 1.15, "Chemicals": 2.2, "Food Prep Supplies": 8.0}, 180, 250_000),
      ("Metal Fabrication", .3, {"Chemicals": 1.5}, 90, 220_000),
      ("Electronics Assembly", .2, {"Packaging": 1.1, "Office Supplies": 1.6}, 150, 260_000),
      ("Plastics", .2, {"Packaging": 1.1}, 110, 240_000))),
    ("Office & Property Management", 0.13,
     {"Paper Products": .93, "Cleaning Supplies": .9, "Breakroom": .88, "Office Supplies": .5, "Waste & Recycling": .4, "Janitorial Equipment": .3, "Chemicals": .3, "Maintenance & MRO": .35, "Beverages": .45, "Disposables": .3, "Safety & PPE": .15},
     (("Corporate Office", .45, {"Office Supplies": 1.25, "Breakroom": 1.1}, 120, 200_000),
      ("Property Management", .4, {"Janitorial Equipment": 2.0, "Maintenance & MRO": 2.0, "Office Supplies": .5, "Chemicals": 2.0}, 45, 150_000),
      ("Coworking", .15, {"Breakroom": 1.2, "Beverages": 1.6}, 12, 120_000))),
    ("Retail", 0.09,
     {"Cleaning Supplies": .88, "Paper Products": .85, "Packaging": .88, "Waste & Recycling": .35, "Breakroom": .35, "Office Supplies": .3, "Disposables": .35, "Food Prep Supplies": .2, "Safety & PPE": .25, "Maintenance & MRO": .2, "Beverages": .15, "Janitorial Equipment": .15},
     (("Grocery", .35, {"Food Prep Supplies": 3.0, "Disposables": 2.0, "Packaging": 1.2}, 90, 180_000),
      ("Convenience Store", .35, {"Disposables": 2.0, "Beverages": 3.0}, 12, 250_000),
      ("Specialty Retail", .3, {"Packaging": 1.2, "Office Supplies": 1.5}, 20, 150_000))),
    ("Government", 0.05,
     {"Paper Products": .9, "Cleaning Supplies": .88, "Office Supplies": .88, "Waste & Recycling": .35, "Safety & PPE": .4, "Janitorial Equipment": .3, "Breakroom": .35, "Maintenance & MRO": .35, "Chemicals": .25, "Medical Supplies": .2, "Beverages": .15},
     (("Municipal", .6, {"Maintenance & MRO": 1.5}, 200, 100_000),
      ("Public Safety", .4, {"Medical Supplies": 3.0, "Safety & PPE": 1.6}, 80, 100_000))),
)  # fmt: skip

SEGMENT_NAMES = tuple(s[0] for s in SEGMENTS)
INDUSTRY_NAMES = tuple(ind[0] for s in SEGMENTS for ind in s[3])

# Off-season windows (start day of year, length in days) by industry; options picked per account.
SEASONAL_INDUSTRIES: dict[str, tuple[float, tuple[tuple[int, int], ...]]] = {
    "K-12 School": (0.35, ((168, 72),)),
    "University": (0.3, ((135, 95),)),
    "Resort": (0.5, ((305, 125), (100, 75))),
    "Event Venue": (0.3, ((2, 62),)),
    "Catering": (0.2, ((4, 58),)),
    "Hotel": (0.08, ((320, 80),)),
}

NAME_PREFIXES = (
    "Alder", "Apex", "Arbor", "Ashford", "Aspen", "Atlas", "Aurora", "Avalon", "Bancroft", "Baxter",
    "Beacon", "Bellwether", "Birch", "Blackstone", "Blue Ridge", "Bluebird", "Bramble", "Brightwater",
    "Brookside", "Cadence", "Calloway", "Cambridge", "Canyon", "Capital", "Cardinal", "Carver",
    "Cascade", "Cedar", "Centennial", "Chapman", "Charter", "Chesapeake", "Clearwater", "Cobalt",
    "Colonial", "Compass", "Copper", "Cornerstone", "Cottonwood", "Crescent", "Crown", "Cypress",
    "Dalton", "Davenport", "Delta", "Dogwood", "Driftwood", "Eastgate", "Eagle", "Elm", "Emerald",
    "Empire", "Everett", "Evergreen", "Fairfield", "Fairview", "Falcon", "Fieldstone", "Foxhall",
    "Franklin", "Frontier", "Gateway", "Glacier", "Golden", "Granite", "Greenleaf", "Greystone",
    "Hadley", "Halcyon", "Hamilton", "Harbor", "Harmony", "Hartwell", "Hawthorne", "Heartland",
    "Heritage", "Hickory", "Highland", "Hillcrest", "Horizon", "Hudson", "Ironwood", "Ivy", "Jasper",
    "Juniper", "Keystone", "Kingsley", "Lakeshore", "Lakeview", "Landmark", "Laurel", "Legacy",
    "Liberty", "Lincoln", "Linden", "Madison", "Magnolia", "Maple", "Marlowe", "Meadow", "Meridian",
    "Midland", "Millbrook", "Mission", "Monarch", "Montclair", "Morgan", "Mosaic", "North Star",
    "Northgate", "Oak Hollow", "Oakridge", "Old Mill", "Olympic", "Orchard", "Pacific", "Palisade",
    "Paramount", "Parkside", "Peachtree", "Pelican", "Pinnacle", "Pioneer", "Prairie", "Prescott",
    "Quarry", "Radiant", "Redwood", "Regal", "Ridgeline", "Riverbend", "Riverside", "Rockwell",
    "Rosewood", "Royal", "Sage", "Sawgrass", "Seaside", "Sequoia", "Sherwood", "Silver Creek",
    "Skyline", "Southgate", "Sparrow", "Spring Valley", "Stanton", "Sterling", "Stonebridge",
    "Sunrise", "Sunset", "Sycamore", "Tamarack", "Thornton", "Timberline", "Trailhead", "Tri-County",
    "Trinity", "Tupelo", "Union", "Unity", "Valley", "Vanguard", "Vista", "Walnut", "Waterford",
    "Wellington", "Westbrook", "Westfield", "Whitman", "Wildflower", "Willow", "Windsor", "Woodland",
    "Anderson", "Bennett", "Brennan", "Caldwell", "Donnelly", "Ellison", "Fitzgerald", "Garrison",
    "Holloway", "Jennings", "Kessler", "Lambert", "Mercer", "Nolan", "O'Brien", "Pemberton", "Quinlan",
    "Russo", "Sullivan", "Thatcher", "Underwood", "Vaughn", "Whitaker", "Yardley", "Abbott", "Barrett",
    "Coleman", "Dempsey", "Emerson", "Forsythe", "Gallagher", "Hensley", "Ingram", "Kendall",
    "Lockwood", "McAllister", "Norwood", "Osborne", "Pryor", "Ramsey", "Sheridan", "Talbot", "Vickers",
    "Wakefield", "Ainsley", "Blakely", "Corbett", "Draper", "Easton", "Fulton", "Greer", "Harlow",
)  # fmt: skip
NAME_MODIFIERS = (
    "Bay", "Brook", "Creek", "Crossing", "Falls", "Field", "Grove", "Harbor", "Heights", "Hill",
    "Lake", "Landing", "Mill", "Park", "Point", "Ridge", "Shore", "Springs", "Square", "Station",
    "Street", "Valley", "Commons", "Junction", "Plaza", "Terrace", "Meadows", "Hollow", "Gardens",
    "Pointe",
)  # fmt: skip
INDUSTRY_SUFFIXES: dict[str, tuple[str, ...]] = {
    "Restaurant": ("Bistro", "Grill", "Kitchen", "Tavern", "Trattoria", "Diner", "Steakhouse", "Eatery", "Cafe", "Restaurant Group"),
    "Quick Service": ("Burgers", "Tacos", "Pizza Co.", "Subs", "Chicken", "Bagels", "Express"),
    "Catering": ("Catering", "Events & Catering", "Catering Co.", "Food Service"),
    "Contract Cafeteria": ("Dining Services", "Foods", "Hospitality Services", "Cafeterias"),
    "Hospital": ("Medical Center", "Regional Hospital", "Health System", "Memorial Hospital"),
    "Clinic": ("Family Clinic", "Urgent Care", "Health Partners", "Medical Group", "Pediatrics"),
    "Senior Living": ("Senior Living", "Retirement Community", "Care Center", "Assisted Living"),
    "Dental Practice": ("Dental", "Dental Group", "Family Dentistry", "Orthodontics"),
    "K-12 School": ("School District", "Elementary", "Academy", "High School", "Charter School"),
    "University": ("College", "University", "Community College", "Institute"),
    "Childcare": ("Early Learning Center", "Daycare", "Preschool", "Kids Academy"),
    "Hotel": ("Hotel", "Inn", "Suites", "Lodge", "Hotel & Conference Center"),
    "Resort": ("Resort", "Resort & Spa", "Beach Club", "Mountain Lodge"),
    "Bar & Nightlife": ("Taproom", "Brewing Co.", "Lounge", "Pub", "Social Club"),
    "Event Venue": ("Event Center", "Ballroom", "Pavilion", "Arena", "Conference Center"),
    "Food Processing": ("Food Products", "Provisions", "Packing Co.", "Bakeries", "Creamery"),
    "Metal Fabrication": ("Metalworks", "Fabrication", "Steel", "Machining", "Tool & Die"),
    "Electronics Assembly": ("Electronics", "Technologies", "Circuits", "Systems"),
    "Plastics": ("Plastics", "Polymers", "Molding", "Extrusion"),
    "Corporate Office": ("Partners", "Group", "Holdings", "Financial", "Insurance", "Law Group"),
    "Property Management": ("Property Management", "Properties", "Realty", "Management Co.", "Apartments"),
    "Coworking": ("Workspace", "Coworking", "Work Club"),
    "Grocery": ("Market", "Grocers", "Fresh Market", "Foods Market"),
    "Convenience Store": ("Quick Stop", "Mart", "Fuel & Food", "Corner Store"),
    "Specialty Retail": ("Outfitters", "Goods", "Boutique", "Home & Garden"),
    "Municipal": ("Parks & Recreation", "Public Works", "County Services", "Township"),
    "Public Safety": ("Fire District", "Public Safety Center", "Emergency Services"),
}  # fmt: skip

FIRST_NAMES = (
    "James", "Mary", "Robert", "Patricia", "Michael", "Jennifer", "William", "Linda", "David",
    "Elizabeth", "Richard", "Barbara", "Joseph", "Susan", "Thomas", "Jessica", "Charles", "Sarah",
    "Daniel", "Karen", "Matthew", "Nancy", "Anthony", "Lisa", "Mark", "Betty", "Steven", "Sandra",
    "Paul", "Ashley", "Andrew", "Kimberly", "Joshua", "Emily", "Kevin", "Donna", "Brian", "Michelle",
    "George", "Carol", "Timothy", "Amanda", "Ronald", "Melissa", "Jason", "Deborah", "Ryan",
    "Stephanie", "Jacob", "Rebecca", "Gary", "Laura", "Eric", "Sharon", "Jonathan", "Cynthia",
    "Stephen", "Kathleen", "Larry", "Amy", "Justin", "Angela", "Scott", "Shirley", "Brandon", "Emma",
    "Raymond", "Brenda", "Gregory", "Pamela", "Samuel", "Nicole", "Patrick", "Anna", "Alexander",
    "Samantha", "Jack", "Katherine", "Dennis", "Christine", "Jerry", "Rachel", "Tyler", "Carolyn",
    "Aaron", "Janet", "Jose", "Maria", "Adam", "Olivia", "Nathan", "Heather", "Henry", "Helen",
    "Zachary", "Catherine", "Kyle", "Diane", "Noah", "Julie", "Ethan", "Victoria", "Jeremy", "Joyce",
    "Luis", "Lauren", "Wei", "Mei", "Arjun", "Ananya", "Omar", "Layla", "Tariq", "Ngozi", "Kofi",
    "Yuki", "Hiro", "Ingrid", "Mateo", "Camila", "Diego", "Valentina", "Andre", "Chloe",
)  # fmt: skip
LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore",
    "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark",
    "Ramirez", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright", "Scott", "Torres",
    "Nguyen", "Hill", "Flores", "Green", "Adams", "Nelson", "Baker", "Hall", "Rivera", "Campbell",
    "Mitchell", "Carter", "Roberts", "Gomez", "Phillips", "Evans", "Turner", "Diaz", "Parker", "Cruz",
    "Edwards", "Collins", "Reyes", "Stewart", "Morris", "Morales", "Murphy", "Cook", "Rogers",
    "Gutierrez", "Ortiz", "Morgan", "Cooper", "Peterson", "Bailey", "Reed", "Kelly", "Howard",
    "Ramos", "Kim", "Cox", "Ward", "Richardson", "Watson", "Brooks", "Chavez", "Wood", "James",
    "Bennett", "Gray", "Mendoza", "Ruiz", "Hughes", "Price", "Alvarez", "Castillo", "Sanders",
    "Patel", "Myers", "Long", "Ross", "Foster", "Jimenez", "Chen", "Wang", "Singh", "Okafor",
    "Haddad", "Novak", "Kowalski", "Larsen", "Schmidt", "Rossi", "Tanaka", "Sato", "Murray", "Ford",
    "Hamilton", "Graham", "Sullivan", "Wallace", "Woods", "Cole", "West", "Jordan", "Owens",
    "Reynolds", "Fisher", "Ellis", "Harrison", "Gibson", "McDonald", "Marshall", "Stevens", "Tucker",
)  # fmt: skip

BUYING_ROLES = ("decision_maker", "finance", "technical", "procurement", "champion", "user")
ROLE_WEIGHTS = (0.2, 0.14, 0.12, 0.2, 0.12, 0.22)
ROLE_TITLES: dict[str, tuple[str, ...]] = {
    "decision_maker": ("General Manager", "Owner", "Director of Operations", "Administrator", "Executive Director"),
    "finance": ("Controller", "CFO", "Finance Manager", "Accounts Payable Lead"),
    "technical": ("Facilities Manager", "Executive Chef", "Director of Environmental Services", "Maintenance Supervisor", "Plant Engineer"),
    "procurement": ("Purchasing Manager", "Procurement Specialist", "Buyer", "Supply Chain Manager"),
    "champion": ("Operations Manager", "Kitchen Manager", "Housekeeping Manager", "Office Manager"),
    "user": ("Custodial Lead", "Sous Chef", "Front Desk Supervisor", "Nurse Manager", "Shift Supervisor"),
}  # fmt: skip

LEAD_SOURCES = ("inbound", "outbound", "referral", "event", "partner")
LEAD_SOURCE_SHARE = (0.3, 0.35, 0.1, 0.15, 0.1)
LEAD_CONVERSION = (0.15, 0.03, 0.4, 0.12, 0.25)

COMPETITORS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("Northline Supply", ("Northline",), "Regional jan-san distributor; low list prices, thin service and a $500 minimum order."),
    ("Crestview Distribution", ("Crestview",), "Broadline foodservice distributor; strong on food, weak on chemicals and equipment support."),
    ("ProServe Direct", ("ProServe", "Pro Serve"), "Online-only supplier; cheap disposables, no rep visits, slow on backorders."),
    ("Bayside Wholesale", ("Bayside",), "Cash-and-carry wholesaler; customers pick up themselves, no delivery routes."),
)  # fmt: skip

OPEN_NEXT_STEPS: dict[str, tuple[str, ...]] = {
    "prospecting": ("Book intro call with the GM", "Send category overview and price sheet", "Find the purchasing contact"),
    "qualification": ("Confirm volumes and current supplier", "Qualify budget and timing with finance", "Get walk-through of the storage room"),
    "needs_analysis": ("Run product trial on site", "Collect last 3 months of invoices for comparison", "Map current SKUs to our catalogue"),
    "proposal": ("Send revised pricing with volume tiers", "Review proposal with the decision maker", "Answer finance questions on the rebate"),
    "negotiation": ("Finalise contract terms with procurement", "Agree delivery schedule and par levels", "Get signature on supply agreement"),
}  # fmt: skip

OPP_KINDS = (
    "{category} program",
    "{category} supply agreement",
    "Multi-site expansion",
    "Annual supply agreement renewal",
)

ACTIVITY_SUBJECTS: dict[str, tuple[str, ...]] = {
    "call": ("Discovery call", "Follow-up call on pricing", "Check-in call", "Call about delivery schedule", "Call to confirm next steps"),
    "email": ("Sent price sheet", "Sent proposal", "Follow-up e-mail", "Sent product samples info", "Sent contract draft"),
    "meeting": ("On-site walk-through", "Product demo", "Quarterly business review", "Proposal review meeting", "Tasting and trial"),
}  # fmt: skip

# Call transcripts as templates: (title, [(speaker, text)]) with speaker "rep" or "customer".
# Placeholders: {rep}, {contact}, {account}, {category}, {category2}, {competitor}, {price},
# {discount}, {weekday}.
CALL_TEMPLATES: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    ("Pricing review with {account}", (
        ("rep", "Thanks for making time, {contact}. I wanted to walk through the new {category} pricing before it takes effect."),
        ("customer", "Sure. Honestly the last invoice was a shock. Your price is too high compared to last year."),
        ("rep", "I hear you. Resin and freight went up across the industry, and we held the increase to about four percent."),
        ("customer", "{competitor} quoted us almost ten percent less on the same items."),
        ("rep", "Did their quote include delivery and the dispenser program? Ours does, and we deliver every {weekday}."),
        ("customer", "I'd have to check. It may not. But I need to show my owner a lower number."),
        ("rep", "What if we moved you to the {discount} percent volume tier by consolidating the {category2} order with us?"),
        ("customer", "That could work if the total comes out below what we pay today."),
        ("rep", "I'll send a side-by-side by Thursday showing both scenarios."),
        ("customer", "Okay. Our budget for supplies is tight this quarter, so keep it simple."),
        ("rep", "Understood. Next step: I send the comparison Thursday and we review it on a short call Friday. Does that work?"),
        ("customer", "Friday works. Send the invite."),
    )),
    ("Quarterly business review - {account}", (
        ("rep", "Good morning {contact}. Let's start with your spend over the last quarter."),
        ("customer", "Go ahead. We've had some changes on our side."),
        ("rep", "Your {category} orders are steady, but I noticed the {category2} orders stopped about two months ago."),
        ("customer", "Right, we started buying those somewhere else. It was a trial."),
        ("rep", "Can I ask who you're using? We want to understand what we missed."),
        ("customer", "We're trying {competitor}. They came in with a better price on the basics."),
        ("rep", "That's fair feedback. How has their delivery been so far?"),
        ("customer", "Mixed. Two late drops already, and one order was short."),
        ("rep", "We can match within a few percent and keep the same delivery day. Would you consider bringing it back if we do?"),
        ("customer", "Maybe. I'd need approval from our controller, she signs off on anything over five thousand."),
        ("rep", "Then let's get her on the next call. I'll put together the numbers for her."),
        ("customer", "Okay, I'll ask her for a slot next week."),
    )),
    ("Discovery call - {account}", (
        ("rep", "Hi {contact}, thanks for taking the call. How are you handling {category} today?"),
        ("customer", "We order from a couple of places, mostly whoever has stock."),
        ("rep", "How often do you run out, would you say?"),
        ("customer", "Every few weeks something is missing. It's a headache for the team."),
        ("rep", "What does a stock-out cost you, roughly, when it happens?"),
        ("customer", "Staff time mostly, someone drives to a store. Maybe a few hundred dollars each time."),
        ("rep", "Who else is involved when you decide to switch suppliers?"),
        ("customer", "Our operations director and purchasing. Purchasing runs the paperwork."),
        ("rep", "Makes sense. We set par levels and a standing order, delivered every {weekday}, so nobody has to chase stock."),
        ("customer", "That sounds useful. What about pricing?"),
        ("rep", "Depends on volume. A typical account your size lands around {price} dollars a month for {category}."),
        ("customer", "That's in range. We're not in a hurry though, maybe next quarter."),
        ("rep", "Fair enough. As a next step, can I do a walk-through of your storage room next week?"),
        ("customer", "Sure, Tuesday morning is good."),
    )),
    ("Renewal negotiation - {account}", (
        ("rep", "{contact}, the supply agreement renews at the end of next month. I'd like to lock in terms early."),
        ("customer", "We're reviewing all vendors this year. Procurement wants three bids."),
        ("rep", "Understood. Is {competitor} one of them?"),
        ("customer", "Yes, and one more. Legal also wants to review the liability clause."),
        ("rep", "I can send our standard terms to legal today. On price, we can hold current rates for twelve months."),
        ("customer", "Holding is good, but we were hoping for a reduction. Costs are up everywhere for us."),
        ("rep", "If you commit to the {category2} program as well, I can offer {discount} percent off across the board."),
        ("customer", "That's interesting. I'll take it to the committee, they meet on the fifteenth."),
        ("rep", "Great. I'll send a written proposal by Wednesday so it's in their packet."),
        ("customer", "Please do. And include the delivery terms."),
    )),
    ("Service issue follow-up - {account}", (
        ("customer", "{rep}, we need to talk about the last two deliveries. Both were missing items."),
        ("rep", "I'm sorry about that, {contact}. I saw the short-ship on the {category} order. That's on us."),
        ("customer", "My team had to scramble. If it happens again we'll have to look at other options."),
        ("rep", "Completely fair. We've moved your order to the first truck and I'll confirm it myself each {weekday}."),
        ("customer", "I appreciate that. We've been happy otherwise, but this can't continue."),
        ("rep", "I'll also credit the missing items on the next invoice. Does a credit of {price} dollars cover it?"),
        ("customer", "That's fine. Just make sure it doesn't repeat."),
        ("rep", "It won't. I'll call you after next week's delivery to confirm everything arrived."),
    )),
)  # fmt: skip


# =====================================================================================
# Parameters and result
# =====================================================================================


@dataclass(frozen=True)
class DemoParams:
    """Everything the generator depends on. ``end_date`` is the last day of history."""

    end_date: dt.date
    accounts: int = 2000
    seed: int = 7
    years: int = 3

    def __post_init__(self) -> None:
        if self.accounts < 50:
            raise DemoDataError(f"--accounts must be at least 50 (got {self.accounts})")
        if self.accounts > 2_000_000:
            raise DemoDataError(f"--accounts must be at most 2,000,000 (got {self.accounts})")
        if not 1 <= self.years <= 10:
            raise DemoDataError(f"--years must be between 1 and 10 (got {self.years})")

    @property
    def n_days(self) -> int:
        return round(365.25 * self.years)

    @property
    def start_date(self) -> dt.date:
        return self.end_date - dt.timedelta(days=self.n_days - 1)


TABLE_ORDER: tuple[type[Any], ...] = (
    Rep,
    Account,
    Contact,
    Product,
    Order,
    OrderLine,
    Lead,
    Opportunity,
    OpportunityStageHistory,
    Activity,
    Target,
    Call,
    Utterance,
)
"""Tables written by the generator, parents before children."""


@dataclass
class DemoData:
    """The generated store content (one DataFrame per table, named by table, with the
    table's column names and explicit ids starting at 1), the planted truth, and the
    competitors to add to the competitor configuration."""

    params: DemoParams
    tables: dict[str, pd.DataFrame]
    planted_truth: pd.DataFrame
    competitors: pd.DataFrame
    seconds: float = 0.0
    stats: dict[str, float] = field(default_factory=dict)

    def rows(self) -> dict[str, int]:
        return {name: len(frame) for name, frame in self.tables.items()}


# =====================================================================================
# Small vectorised helpers
# =====================================================================================


def _rng(seed: int, step: str) -> np.random.Generator:
    """An independent, stable random stream per generation step."""
    return np.random.default_rng(np.random.SeedSequence([seed, zlib.crc32(step.encode())]))


def _offsets(counts: np.ndarray) -> np.ndarray:
    """Start index of each group in a flat array grouped by ``counts``."""
    out = np.zeros(len(counts), dtype=np.int64)
    if len(counts) > 1:
        np.cumsum(counts[:-1], out=out[1:])
    return out


def _within(counts: np.ndarray) -> np.ndarray:
    """0..count-1 for every group, concatenated (the position inside each group)."""
    total = int(counts.sum())
    return np.arange(total, dtype=np.int64) - np.repeat(_offsets(counts), counts)


def _unique(values: np.ndarray) -> np.ndarray:
    """Sorted distinct values (sort-based: numpy's hash-based ``unique`` is far slower on
    millions of integers)."""
    ordered = np.sort(values)
    return (
        ordered[np.concatenate([[True], ordered[1:] != ordered[:-1]])] if len(ordered) else ordered
    )


def _first_positions(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct values and the position of the first occurrence of each."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    first = (
        np.concatenate([[True], ordered[1:] != ordered[:-1]]) if len(ordered) else np.zeros(0, bool)
    )
    return ordered[first], order[first]


def _pick(
    rng: np.random.Generator,
    candidates: np.ndarray,
    n: int,
    prefer: np.ndarray | None = None,
    n_prefer: int = 0,
) -> np.ndarray:
    """Up to ``n`` distinct indices where ``candidates`` is true; the first ``n_prefer``
    come from ``prefer & candidates`` when there are any."""
    chosen: list[np.ndarray] = []
    pool = candidates.copy()
    if prefer is not None and n_prefer > 0:
        idx = np.flatnonzero(pool & prefer)
        take = rng.permutation(idx)[: min(n_prefer, n)]
        chosen.append(take)
        pool[take] = False
    remaining = n - sum(len(c) for c in chosen)
    idx = np.flatnonzero(pool)
    chosen.append(rng.permutation(idx)[: max(remaining, 0)])
    return np.sort(np.concatenate(chosen)).astype(np.int64)


def _day_of_year(start: dt.date, days: np.ndarray) -> np.ndarray:
    dates = np.datetime64(start, "D") + days.astype("timedelta64[D]")
    return (dates - dates.astype("datetime64[Y]")).astype(np.int64)


def _in_window(doy: np.ndarray, start: np.ndarray, length: np.ndarray) -> np.ndarray:
    """True where day-of-year ``doy`` lies in the yearly window [start, start+length)."""
    return ((doy - start) % 365) < length


def _dates(start: dt.date, days: np.ndarray) -> np.ndarray:
    """Day offsets -> ``datetime64[s]`` (what the frames hold for date columns)."""
    return (np.datetime64(start, "D") + days.astype("timedelta64[D]")).astype("datetime64[s]")


def _iso(start: dt.date, day: int) -> str:
    return (start + dt.timedelta(days=int(day))).isoformat()


def _codes(prefix: str, numbers: np.ndarray, width: int) -> np.ndarray:
    """``prefix`` + zero-padded ``numbers`` as a numpy string array, written digit by digit
    into a byte matrix (much faster than formatting millions of Python strings)."""
    head = np.frombuffer(prefix.encode("ascii"), dtype=np.uint8)
    chars = np.empty((len(numbers), len(head) + width), dtype=np.uint8)
    chars[:, : len(head)] = head
    rest = numbers.astype(np.uint64)
    for column in range(len(head) + width - 1, len(head) - 1, -1):
        quotient = rest // 10
        chars[:, column] = rest - quotient * 10 + 48
        rest = quotient
    size = len(head) + width
    return chars.view(f"S{size}").ravel().astype(f"U{size}")


def _slug(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


def _local_to_utc(
    days: np.ndarray, minutes: np.ndarray, zones: np.ndarray, start: dt.date
) -> pd.Series:
    """Local wall-clock times (day offset + minutes after midnight, per IANA zone) as UTC."""
    local = pd.Series(
        np.datetime64(start, "D").astype("datetime64[m]")
        + days.astype("timedelta64[D]").astype("timedelta64[m]")
        + minutes.astype("timedelta64[m]")
    ).astype("datetime64[us]")
    out = pd.Series(pd.NaT, index=local.index, dtype="datetime64[us, UTC]")
    for zone in sorted(set(zones.tolist())):
        mask = zones == zone
        stamps = pd.DatetimeIndex(local[mask]).tz_localize(
            zone, ambiguous=True, nonexistent="shift_forward"
        )
        out[mask] = stamps.tz_convert("UTC")
    return out


# =====================================================================================
# Generation
# =====================================================================================

# account kinds
STEADY, VOLATILE, SEASONAL, ONE_OFF, PROSPECT = 0, 1, 2, 3, 4
# account origins
PRE_EXISTING, IN_HISTORY = 0, 1
CADENCES = np.array([7, 14, 21, 28, 42, 56, 84])
_CADENCE_SMALL = np.array([0.01, 0.05, 0.07, 0.25, 0.25, 0.2, 0.17])
_CADENCE_LARGE = np.array([0.3, 0.35, 0.17, 0.12, 0.06, 0.0, 0.0])
MAX_CATEGORY_CYCLE = 182
SIZE_BANDS = ("small", "mid", "large", "enterprise")
SIZE_LIMITS = (50, 250, 1000)
PRICING_TIERS = ("list", "silver", "gold", "contract")
TIER_PRICE = (1.0, 0.96, 0.92, 0.88)
ANNUAL_PRICE_INCREASE = 0.035
ADOPTION_RATE_PER_YEAR = 0.15
SECONDARY_PRODUCT_SHARE = 0.35
ACME_FOODS, ACME_FOOD_SERVICE = 0, 1


@dataclass
class _World:
    """Intermediate arrays shared by the generation steps (index = account row)."""

    params: DemoParams
    start: dt.date
    n_days: int
    weekday0: int
    reps: pd.DataFrame
    rep_zone: dict[int, str]
    demo_rep_id: int
    region_reps: dict[int, list[int]]
    # accounts
    segment: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    industry: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    region: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    owner: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    scale: np.ndarray = field(default_factory=lambda: np.zeros(0))
    kind: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    origin: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    created_day: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    first_day: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    won_day: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    lead_sourced: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    cadence: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    weekday: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    season_start: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    season_len: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    defect_since: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    defect_decay: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    defect_planted: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    employees: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    size_band: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    price_factor: np.ndarray = field(default_factory=lambda: np.zeros(0))
    base_discount: np.ndarray = field(default_factory=lambda: np.zeros(0))
    names: list[str] = field(default_factory=list)
    # streams (account x category), sorted by account
    st_account: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    st_category: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    st_start: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    st_stop: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    st_initial: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    st_k: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    st_phase: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    sku_offset: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    sku_count: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    sku_product: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    sku_base_qty: np.ndarray = field(default_factory=lambda: np.zeros(0))
    st_planted_stop: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    affinity: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    # catalogue (index = product row; product id = row + 1)
    product_category: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    product_price: np.ndarray = field(default_factory=lambda: np.zeros(0))
    # orders and lines (filled by _orders / _lines)
    order_account: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    order_day: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    line_account: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    line_day: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    line_category: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    line_amount: np.ndarray = field(default_factory=lambda: np.zeros(0))
    contact_account: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    lead_of_account: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    lead_source_of_account: np.ndarray = field(default_factory=lambda: np.zeros(0, object))
    lead_created: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    lead_converted: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    lead_owner: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    opp_account: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    opp_created: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    opp_end: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    opp_quiet_from: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    opp_won: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    opp_amount: np.ndarray = field(default_factory=lambda: np.zeros(0))
    opp_close: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    @property
    def n(self) -> int:
        return self.params.accounts

    @property
    def last_day(self) -> int:
        return self.n_days - 1


def _industry_affinity() -> np.ndarray:
    """Probability that an account of each industry buys each category (industries x categories)."""
    rows = []
    for _segment, _share, base, industries in SEGMENTS:
        for _name, _weight, multipliers, _employees, _revenue in industries:
            row = np.full(len(CATEGORY_NAMES), 0.03)
            for category, value in base.items():
                row[_C[category]] = value
            for category, factor in multipliers.items():
                row[_C[category]] *= factor
            rows.append(np.clip(row, 0.0, 0.97))
    return np.array(rows)


def _reps(params: DemoParams) -> tuple[pd.DataFrame, dict[int, str], int, dict[int, list[int]]]:
    """The fixed team: VP, admin, three managers and their reps. Returns the rep frame, rep id
    -> time zone, the demo rep's id, and region index -> rep ids selling there."""
    created = dt.datetime.combine(params.start_date, dt.time(9), tzinfo=dt.UTC)
    rows: list[dict[str, Any]] = []

    def add(name: str, title: str, zone: str, role: str, manager: int | None) -> int:
        rep_id = len(rows) + 1
        first, last = name.lower().split(" ", 1)
        rows.append(
            {
                "id": rep_id,
                "external_id": f"REP-{rep_id:03d}",
                "name": name,
                "email": f"{first}.{last.replace(' ', '')}@{DEMO_DOMAIN}",
                "role": role,
                "title": title,
                "timezone": zone,
                "active": True,
                "manager_id": manager,
                "created_at": created,
            }
        )
        return rep_id

    vp = add(VP[0], VP[1], VP[2], "manager", None)
    add(ADMIN[0], ADMIN[1], ADMIN[2], "admin", None)
    region_reps: dict[int, list[int]] = {}
    region_index = {name: i for i, (name, _w, _c) in enumerate(REGIONS)}
    demo_rep = 0
    for team, manager_name, zone, regions, team_reps in TEAMS:
        manager = add(manager_name, f"Regional Sales Manager, {team}", zone, "manager", vp)
        ids = [
            add(name, "Account Executive", rep_zone, "rep", manager) for name, rep_zone in team_reps
        ]
        for region in regions:
            region_reps[region_index[region]] = ids
        if f"{team_reps[0][0].lower().replace(' ', '.')}@{DEMO_DOMAIN}" == DEMO_REP_EMAIL:
            demo_rep = ids[0]
    frame = pd.DataFrame(rows)
    frame["manager_id"] = frame["manager_id"].astype("Int64")
    frame["created_at"] = pd.to_datetime(frame["created_at"], utc=True)
    zones = dict(zip(frame["id"].tolist(), frame["timezone"].tolist(), strict=True))
    return frame, zones, demo_rep, region_reps


def _unique_names(rng: np.random.Generator, industry: np.ndarray, taken: set[str]) -> list[str]:
    """Deterministic, unique company names: prefix [+ modifier] + industry suffix."""
    out: list[str | None] = [None] * len(industry)
    pending = np.arange(len(industry))
    while len(pending):
        prefix = rng.integers(0, len(NAME_PREFIXES), len(pending))
        modifier = rng.integers(-len(NAME_MODIFIERS), len(NAME_MODIFIERS), len(pending))
        pick = rng.random(len(pending))
        still: list[int] = []
        for row, p, m, u in zip(
            pending.tolist(), prefix.tolist(), modifier.tolist(), pick.tolist(), strict=True
        ):
            suffixes = INDUSTRY_SUFFIXES[INDUSTRY_NAMES[industry[row]]]
            suffix = suffixes[int(u * len(suffixes))]
            name = NAME_PREFIXES[p] + (f" {NAME_MODIFIERS[m]}" if m >= 0 else "") + f" {suffix}"
            if name in taken:
                still.append(row)
            else:
                taken.add(name)
                out[row] = name
        pending = np.array(still, dtype=np.int64)
    return [name for name in out if name is not None]


def _accounts(w: _World) -> None:
    """Firmographics, ownership, origin, cadence and behaviour of every account."""
    n, last = w.n, w.last_day
    rng = _rng(w.params.seed, "accounts")
    seg_share = np.array([s[1] for s in SEGMENTS])
    w.segment = rng.choice(len(SEGMENTS), n, p=seg_share / seg_share.sum())
    industry = np.zeros(n, dtype=np.int64)
    first_industry = 0
    for s, (_name, _share, _base, industries) in enumerate(SEGMENTS):
        weights = np.array([ind[1] for ind in industries])
        mask = w.segment == s
        industry[mask] = first_industry + rng.choice(
            len(industries), int(mask.sum()), p=weights / weights.sum()
        )
        first_industry += len(industries)
    w.industry = industry
    region_share = np.array([r[1] for r in REGIONS])
    w.region = rng.choice(len(REGIONS), n, p=region_share / region_share.sum())
    w.scale = np.minimum((1.0 - rng.random(n)) ** (-1.0 / 1.25), 300.0)

    # origin and dates
    n_prospect = max(2, round(0.04 * n))
    n_history = round(0.25 * n)
    origin = np.full(n, PRE_EXISTING)
    roles = rng.permutation(np.arange(2, n))
    history_rows = roles[:n_history]
    prospect_rows = roles[n_history : n_history + n_prospect]
    origin[history_rows] = IN_HISTORY
    kind = np.full(n, STEADY)
    kind[prospect_rows] = PROSPECT
    w.origin, w.kind = origin, kind
    w.created_day = -rng.integers(30, 3650, n)
    w.won_day = np.full(n, -1)
    w.won_day[history_rows] = rng.integers(20, max(21, last - 5), n_history)
    n_new = max(4, round(0.012 * n))
    w.won_day[history_rows[:n_new]] = last - rng.integers(5, 52, n_new)
    w.lead_sourced = np.zeros(n, dtype=bool)
    w.lead_sourced[history_rows] = rng.random(n_history) < 0.7
    w.lead_sourced[prospect_rows] = True
    # a lead-sourced account is created when its lead converts, and its first deal is won
    # a month to five months later; others are set up when they first order
    deal_days = np.where(
        w.lead_sourced[history_rows],
        rng.integers(30, 150, n_history),
        rng.integers(0, 15, n_history),
    )
    w.created_day[history_rows] = w.won_day[history_rows] - deal_days
    w.created_day[prospect_rows] = last - rng.integers(10, 420, n_prospect)

    # cadence grows with the account's scale; delivery weekday Mon..Fri
    t = np.clip(np.log(w.scale) / np.log(50.0), 0.0, 1.0)[:, None]
    probs = (1 - t) * _CADENCE_SMALL + t * _CADENCE_LARGE
    cum = np.cumsum(probs / probs.sum(axis=1, keepdims=True), axis=1)
    w.cadence = CADENCES[np.minimum((rng.random(n)[:, None] > cum).sum(axis=1), len(CADENCES) - 1)]
    w.weekday = rng.integers(0, 5, n)
    w.first_day = rng.integers(0, 10_000, n) % w.cadence
    w.first_day[origin == IN_HISTORY] = np.minimum(
        w.won_day[origin == IN_HISTORY] + rng.integers(0, 10, n_history), last
    )

    # Acme Foods / Acme Food Service: big, steady, owned by the demo rep (near-duplicate names)
    food_service = SEGMENT_NAMES.index("Food Service")
    w.segment[[ACME_FOODS, ACME_FOOD_SERVICE]] = food_service
    w.industry[ACME_FOODS] = INDUSTRY_NAMES.index("Contract Cafeteria")
    w.industry[ACME_FOOD_SERVICE] = INDUSTRY_NAMES.index("Catering")
    w.region[[ACME_FOODS, ACME_FOOD_SERVICE]] = [r[0] for r in REGIONS].index("Northeast")
    w.scale[[ACME_FOODS, ACME_FOOD_SERVICE]] = [28.0, 16.0]
    w.cadence[[ACME_FOODS, ACME_FOOD_SERVICE]] = [7, 14]

    # behaviour: one-off, volatile, seasonal (mutually exclusive; prospects excluded)
    customer = kind != PROSPECT
    established = customer & ((origin == PRE_EXISTING) | (w.won_day <= last - 120))
    established[[ACME_FOODS, ACME_FOOD_SERVICE]] = False
    one_off = _pick(rng, established, max(3, round(0.025 * n)))
    kind[one_off] = ONE_OFF
    steady = established & (kind == STEADY)
    volatile = _pick(rng, steady, max(3, round(0.08 * n)))
    kind[volatile] = VOLATILE
    w.season_start = np.zeros(n, dtype=np.int64)
    w.season_len = np.zeros(n, dtype=np.int64)
    for industry_name, (probability, windows) in SEASONAL_INDUSTRIES.items():
        rows = np.flatnonzero(
            (w.industry == INDUSTRY_NAMES.index(industry_name)) & (kind == STEADY) & established
        )
        rows = rows[rng.random(len(rows)) < probability]
        choice = rng.integers(0, len(windows), len(rows))
        w.season_start[rows] = np.array(
            [windows[c][0] for c in choice], dtype=np.int64
        ) + rng.integers(-7, 8, len(rows))
        w.season_len[rows] = np.array(
            [windows[c][1] for c in choice], dtype=np.int64
        ) + rng.integers(-7, 8, len(rows))
        kind[rows] = SEASONAL
    # make sure some seasonal buyers are in their off-season on the last day
    end_doy = int(_day_of_year(w.start, np.array([last]))[0])
    in_season_now = (kind == SEASONAL) & _in_window(
        np.full(n, end_doy), w.season_start, w.season_len
    )
    pre_long = (origin == PRE_EXISTING) & (kind == STEADY)
    pre_long[[ACME_FOODS, ACME_FOOD_SERVICE]] = False
    need = max(3, round(0.006 * n)) - int(in_season_now.sum())
    if need > 0:
        seasonal_segments = np.isin(
            w.segment,
            [
                SEGMENT_NAMES.index("Hospitality"),
                SEGMENT_NAMES.index("Food Service"),
                SEGMENT_NAMES.index("Education"),
            ],
        )
        rows = _pick(
            rng,
            pre_long & seasonal_segments,
            need,
            prefer=pre_long & seasonal_segments & (w.industry == INDUSTRY_NAMES.index("Resort")),
            n_prefer=need,
        )
        if len(rows) < need:
            rows = np.union1d(
                rows, _pick(rng, pre_long & ~np.isin(np.arange(n), rows), need - len(rows))
            )
        w.season_start[rows] = (end_doy - rng.integers(35, 60, len(rows))) % 365
        w.season_len[rows] = rng.integers(85, 115, len(rows))
        kind[rows] = SEASONAL
    seasonal = kind == SEASONAL
    w.cadence[seasonal] = np.minimum(w.cadence[seasonal], 14)
    w.kind = kind

    # employees, size band and pricing tier follow the spend scale
    median_employees = np.array([ind[3] for s in SEGMENTS for ind in s[3]], dtype=float)
    w.employees = np.maximum(
        2,
        np.round(
            median_employees[w.industry] * (w.scale / 1.74) ** 0.9 * rng.lognormal(0, 0.35, n)
        ),
    ).astype(np.int64)
    w.size_band = np.searchsorted(np.array(SIZE_LIMITS), w.employees, side="right")
    w.price_factor = np.array(TIER_PRICE)[w.size_band] * rng.uniform(0.98, 1.02, n)
    w.base_discount = np.where(
        w.size_band == 3, 0.03, np.where((w.size_band == 2) & (rng.random(n) < 0.5), 0.02, 0.0)
    )

    # owners: the reps of the account's region, with uneven book sizes
    owner = np.zeros(n, dtype=np.int64)
    book_rng = _rng(w.params.seed, "books")
    for region, reps in sorted(w.region_reps.items()):
        rows = np.flatnonzero(w.region == region)
        weights = book_rng.uniform(0.6, 1.4, len(reps))
        owner[rows] = np.array(reps)[rng.choice(len(reps), len(rows), p=weights / weights.sum())]
    owner[[ACME_FOODS, ACME_FOOD_SERVICE]] = w.demo_rep_id
    w.owner = owner


def _defections(w: _World) -> None:
    """Planted recent defections (30-120 days before the end) and natural churn earlier on."""
    n, last = w.n, w.last_day
    rng = _rng(w.params.seed, "defections")
    w.defect_since = np.full(n, -1, dtype=np.int64)
    w.defect_decay = np.zeros(n, dtype=bool)
    w.defect_planted = np.zeros(n, dtype=bool)
    not_acme = np.ones(n, dtype=bool)
    not_acme[[ACME_FOODS, ACME_FOOD_SERVICE]] = False
    candidates = (w.kind == STEADY) & (w.origin == PRE_EXISTING) & (w.cadence <= 42) & not_acme
    rows = _pick(
        rng, candidates, max(4, round(0.03 * n)), prefer=w.owner == w.demo_rep_id, n_prefer=2
    )
    low = np.maximum(30, np.ceil(2.5 * w.cadence[rows]).astype(np.int64))
    w.defect_since[rows] = last - rng.integers(low, 121)
    w.defect_decay[rows] = rng.random(len(rows)) < 0.4
    w.defect_planted[rows] = True
    # natural churn, about 4% of accounts a year, applied only well before the end
    churn = w.first_day + 180 + np.floor(rng.exponential(365.0 / 0.04, n)).astype(np.int64)
    natural = (
        np.isin(w.kind, [STEADY, VOLATILE])
        & (w.defect_since < 0)
        & not_acme
        & (churn <= last - 150)
    )
    w.defect_since[natural] = churn[natural]
    w.defect_decay[natural] = (rng.random(int(natural.sum())) < 0.25) & (w.cadence[natural] <= 42)


def _complements() -> np.ndarray:
    matrix = np.zeros((len(CATEGORY_NAMES), len(CATEGORY_NAMES)), dtype=np.int64)
    for a, b in COMPLEMENTS:
        matrix[_C[a], _C[b]] = matrix[_C[b], _C[a]] = 1
    return matrix


def _streams(w: _World) -> None:
    """Which categories each account buys, since when, until when, and how often."""
    n, last = w.n, w.last_day
    n_cat = len(CATEGORY_NAMES)
    rng = _rng(w.params.seed, "streams")
    w.affinity = _industry_affinity()
    aff = w.affinity[w.industry]
    core = aff >= 0.85
    complements = _complements()
    size_mult = np.clip(0.45 + 0.2 * np.log2(w.scale), 0.4, 1.5)
    u = rng.random((n, n_cat))
    has = core & (u < aff)
    boost = np.where((has.astype(np.int64) @ complements) > 0, 1.5, 1.0)
    has |= ~core & (u < np.clip(aff * size_mult[:, None] * boost, 0.0, 0.97))
    none = ~has.any(axis=1)
    has[none, np.argmax(aff[none], axis=1)] = True
    one_off = np.flatnonzero(w.kind == ONE_OFF)
    ranked = np.where(has[one_off], aff[one_off] + rng.random((len(one_off), n_cat)) * 1e-3, -1.0)
    top = np.argsort(-ranked, axis=1)[:, :2]
    keep_two = np.zeros((len(one_off), n_cat), dtype=bool)
    np.put_along_axis(keep_two, top, True, axis=1)
    has[one_off] &= keep_two
    has[w.kind == PROSPECT] = False
    acme_foods = [
        "Disposables",
        "Food Prep Supplies",
        "Chemicals",
        "Beverages",
        "Paper Products",
        "Breakroom",
    ]
    acme_service = [
        "Disposables",
        "Food Prep Supplies",
        "Cleaning Supplies",
        "Chemicals",
        "Paper Products",
        "Laundry & Linens",
    ]
    has[[ACME_FOODS, ACME_FOOD_SERVICE]] = False
    has[ACME_FOODS, [_C[c] for c in acme_foods]] = True
    has[ACME_FOOD_SERVICE, [_C[c] for c in acme_service]] = True

    # planted cross-sell gaps: a core category of the industry removed for good
    blocked = np.zeros((n, n_cat), dtype=bool)
    not_acme = np.ones(n, dtype=bool)
    not_acme[[ACME_FOODS, ACME_FOOD_SERVICE]] = False
    candidates = (
        (w.kind == STEADY) & (w.origin == PRE_EXISTING) & (w.defect_since < 0)
        & (has.sum(axis=1) >= 3) & (has & core).any(axis=1) & not_acme
    )  # fmt: skip
    rows = _pick(
        rng, candidates, max(4, round(0.015 * n)), prefer=w.owner == w.demo_rep_id, n_prefer=2
    )
    gap_category = np.argmax(
        np.where(has[rows] & core[rows], rng.random((len(rows), n_cat)), -1.0), axis=1
    )
    has[rows, gap_category] = False
    blocked[rows, gap_category] = True
    blocked[ACME_FOODS, _C["Cleaning Supplies"]] = True

    # adoption of missing categories: hazard driven by the industry's affinity and complements
    buying = np.isin(w.kind, [STEADY, VOLATILE, SEASONAL])
    missing = ~has & ~blocked & buying[:, None]
    boost = np.where((has.astype(np.int64) @ complements) > 0, 1.8, 1.0)
    rate = ADOPTION_RATE_PER_YEAR / 365.0 * aff**1.5 * boost
    adopt_day = (
        w.first_day[:, None]
        + 30
        + np.floor(rng.exponential(1.0, (n, n_cat)) / rate).astype(np.int64)
    )
    stop_day = np.where((w.defect_since >= 0) & ~w.defect_decay, w.defect_since, last + 1)
    adopt = missing & (adopt_day < stop_day[:, None])
    established = (w.first_day <= last - 180) & (w.defect_since < 0)
    recent = adopt & (adopt_day >= last - 85) & (adopt_day <= last - 5) & established[:, None]
    need = max(4, round(0.01 * n)) - int(recent.any(axis=1).sum())
    if need > 0:
        candidates = (
            (w.kind == STEADY) & (w.origin == PRE_EXISTING) & (w.defect_since < 0) & (w.cadence <= 28)
            & (missing & ~adopt).any(axis=1) & ~recent.any(axis=1) & not_acme
        )  # fmt: skip
        rows = _pick(rng, candidates, need, prefer=w.owner == w.demo_rep_id, n_prefer=1)
        category = np.argmax(np.where((missing & ~adopt)[rows], aff[rows], -1.0), axis=1)
        adopt[rows, category] = True
        adopt_day[rows, category] = last - rng.integers(20, 76, len(rows))

    account, category = np.nonzero(has | adopt)
    start = np.where(has[account, category], w.first_day[account], adopt_day[account, category])
    w.st_account, w.st_category, w.st_start = account, category, start
    w.st_initial = has[account, category]
    w.st_stop = np.full(len(account), last + 1, dtype=np.int64)
    w.st_planted_stop = np.zeros(len(account), dtype=bool)

    # how often each category rides on the account's orders: every k-th order
    freq = np.array([c[1] for c in CATALOG])
    k = np.clip(np.round(1.0 / freq[category] * rng.uniform(1.0, 1.8, len(category))), 1, 8)
    cadence = w.cadence[account]
    w.st_k = np.maximum(1, np.minimum(k.astype(np.int64), MAX_CATEGORY_CYCLE // cadence))
    w.st_phase = rng.integers(0, 1_000_000, len(category)) % w.st_k

    # natural category defections (0.4% of streams a year), at most one per account
    streams_per_account = np.bincount(account, minlength=n)
    stop = start + 120 + np.floor(rng.exponential(365.0 / 0.004, len(account))).astype(np.int64)
    churn_limit = np.where(w.defect_since >= 0, w.defect_since, last + 1)
    valid = (
        np.isin(w.kind[account], [STEADY, VOLATILE, SEASONAL]) & (streams_per_account[account] >= 2)
        & (stop <= last - 150) & (stop < churn_limit[account]) & (account > ACME_FOOD_SERVICE)
    )  # fmt: skip
    order = np.lexsort((stop, ~valid, account))
    first_of_account = order[_first_positions(account[order])[1]]
    chosen = first_of_account[valid[first_of_account]]
    w.st_stop[chosen] = stop[chosen]
    natural_stop = np.zeros(n, dtype=bool)
    natural_stop[account[chosen]] = True

    # planted recent category defections (30-120 days before the end)
    cycle = w.st_k * cadence
    eligible_stream = w.st_initial & (cycle <= 35) & (w.st_stop > last)
    eligible_accounts = np.bincount(account[eligible_stream], minlength=n) > 0
    candidates = (
        (w.kind == STEADY) & (w.origin == PRE_EXISTING) & (w.defect_since < 0) & ~natural_stop
        & (streams_per_account >= 3) & eligible_accounts & not_acme
    )  # fmt: skip
    rows = _pick(
        rng, candidates, max(4, round(0.03 * n)), prefer=w.owner == w.demo_rep_id, n_prefer=2
    )
    stream_offset = _offsets(streams_per_account)
    for row in rows.tolist():
        own = np.arange(stream_offset[row], stream_offset[row] + streams_per_account[row])
        own = own[eligible_stream[own]]
        s = int(own[rng.integers(0, len(own))])
        low = max(30, 3 * int(cycle[s]))
        w.st_stop[s] = last - int(rng.integers(low, 121))
        w.st_planted_stop[s] = True
    acme_cleaning = int(
        np.flatnonzero((account == ACME_FOOD_SERVICE) & (category == _C["Cleaning Supplies"]))[0]
    )
    w.st_k[acme_cleaning] = 1
    w.st_stop[acme_cleaning] = last - 63
    w.st_planted_stop[acme_cleaning] = True


def _products(w: _World) -> pd.DataFrame:
    """The catalogue as the ``product`` table; also fills the world's product arrays."""
    rows: list[dict[str, Any]] = []
    for c, (category, _freq, _spend, subcategories) in enumerate(CATALOG):
        for subcategory, items in subcategories:
            for name, price in items:
                product_id = len(rows) + 1
                rows.append(
                    {
                        "id": product_id,
                        "external_id": f"SKU-{10000 + product_id}",
                        "name": name,
                        "category": category,
                        "subcategory": subcategory,
                        "unit_price": price,
                        "active": True,
                        "_category": c,
                    }
                )
    frame = pd.DataFrame(rows)
    w.product_category = frame.pop("_category").to_numpy(dtype=np.int64)
    w.product_price = frame["unit_price"].to_numpy(dtype=float)
    return frame


def _stream_products(w: _World, products: pd.DataFrame) -> None:
    """The products each account buys in each of its categories (1-4, clustered by
    subcategory so that items are bought together), and the usual quantity of each."""
    rng = _rng(w.params.seed, "stream_products")
    n_cat = len(CATEGORY_NAMES)
    per_category = [np.flatnonzero(w.product_category == c) for c in range(n_cat)]
    width = max(len(p) for p in per_category)
    slot_product = np.full((n_cat, width), -1, dtype=np.int64)
    slot_sub = np.full((n_cat, width), -1, dtype=np.int64)
    subcategory_codes = pd.factorize(products["subcategory"])[0]
    popularity = np.zeros((n_cat, width))
    catalog_rng = _rng(w.params.seed, "catalog")
    for c, rows in enumerate(per_category):
        slot_product[c, : len(rows)] = rows
        slot_sub[c, : len(rows)] = subcategory_codes[rows]
        popularity[c, : len(rows)] = 1.0 / (1.0 + catalog_rng.permutation(len(rows))) ** 0.8
    count = np.array([len(p) for p in per_category])

    category, account = w.st_category, w.st_account
    n_streams = len(category)
    primary_slot = np.floor(rng.random(n_streams) * count[category]).astype(np.int64)
    primary_sub = slot_sub[category, primary_slot]
    valid = slot_product[category] >= 0
    price = np.where(valid, w.product_price[np.maximum(slot_product[category], 0)], np.inf)
    keys = (
        np.log(np.maximum(popularity[category], 1e-12))
        + np.where(slot_sub[category] == primary_sub[:, None], np.log(5.0), 0.0)
        - price / (250.0 * w.scale[account][:, None])
        + rng.gumbel(size=(n_streams, width))
    )
    keys[~valid] = -np.inf
    ranked = np.argsort(-keys, axis=1, kind="stable")[:, :4]
    p_more = np.clip(0.05 + 0.08 * np.log2(w.scale[account]), 0.05, 0.6)
    n_sku = np.minimum(1 + rng.binomial(3, p_more), count[category])
    take = np.arange(4)[None, :] < n_sku[:, None]
    w.sku_count = n_sku
    w.sku_offset = _offsets(n_sku)
    w.sku_product = slot_product[np.repeat(category, n_sku), ranked[take]]

    spend_weight = np.array([c[2] for c in CATALOG])
    cycle_days = w.st_k * w.cadence[account]
    spend_year = (
        w.scale[account] * 1000.0 * spend_weight[category] * rng.lognormal(0.0, 0.3, n_streams)
    )
    per_delivery = spend_year * cycle_days / 365.0
    share = np.where(n_sku == 1, 1.0, 0.5)
    position = _within(n_sku)
    sku_share = np.where(
        position == 0, np.repeat(share, n_sku), np.repeat(0.5 / np.maximum(n_sku - 1, 1), n_sku)
    )
    unit = w.product_price[w.sku_product] * w.price_factor[np.repeat(account, n_sku)]
    w.sku_base_qty = np.repeat(per_delivery, n_sku) * sku_share / unit


def _renewal(
    rng: np.random.Generator,
    start: np.ndarray,
    end: np.ndarray,
    cycle: np.ndarray,
    sigma: np.ndarray,
    cap: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Event times of independent renewal processes, one per row: the first event at
    ``start``, then gaps of mean ``cycle`` (log-normal noise ``sigma``, capped at
    ``cap * cycle``) until ``end``. Returns (row, day) arrays; vectorised in rounds."""
    rows_out = [np.arange(len(start))]
    days_out = [start.astype(np.float64)]
    current = start.astype(np.float64)
    pending = np.flatnonzero(current < end)
    while len(pending):
        span = end[pending] - current[pending]
        k = (np.ceil(span / cycle[pending] * 1.3) + 3).astype(np.int64)
        row = np.repeat(pending, k)
        c, s = cycle[row], sigma[row]
        gap = c * np.exp(s * rng.standard_normal(len(row)) - 0.5 * s * s)
        gap = np.maximum(np.clip(gap, 0.35 * c, cap[row] * c), 1.0)
        total = np.cumsum(gap)
        ends = _offsets(k) + k - 1
        before = np.repeat(np.concatenate([[0.0], total[ends[:-1]]]), k)
        t = current[row] + total - before
        keep = t <= end[row]
        rows_out.append(row[keep])
        days_out.append(t[keep])
        last_t = t[ends]
        unfinished = last_t <= end[pending]
        current[pending[unfinished]] = last_t[unfinished]
        pending = pending[unfinished]
    return np.concatenate(rows_out), np.floor(np.concatenate(days_out)).astype(np.int64)


def _orders(w: _World) -> None:
    """Order days: one header per account and delivery day."""
    last = w.last_day
    rng = _rng(w.params.seed, "orders")
    repeat_buyer = np.flatnonzero(np.isin(w.kind, [STEADY, VOLATILE, SEASONAL]))
    stops = (w.defect_since >= 0) & ~w.defect_decay
    end = np.where(stops, w.defect_since - 1, last)
    volatile = w.kind == VOLATILE
    rows, days = _renewal(
        rng,
        w.first_day[repeat_buyer],
        end[repeat_buyer],
        w.cadence[repeat_buyer].astype(np.float64),
        np.where(volatile, 0.9, 0.2)[repeat_buyer],
        np.where(volatile, 4.0, 2.0)[repeat_buyer],
    )
    account = repeat_buyer[rows]
    first = np.zeros(len(account), dtype=bool)
    first[: len(repeat_buyer)] = True  # the first event of each process comes first

    # deliveries happen on the account's route weekday
    weekday = (w.weekday0 + days) % 7
    delta = (w.weekday[account] - weekday) % 7
    delta = np.where(delta > 3, delta - 7, delta)
    days = np.where(first, days, days + delta)

    # seasonality and decay thin the orders
    doy = _day_of_year(w.start, days)
    keep = np.ones(len(days))
    keep = np.where(
        (w.kind[account] == SEASONAL)
        & _in_window(doy, w.season_start[account], w.season_len[account]),
        0.04,
        keep,
    )
    education = w.segment[account] == SEGMENT_NAMES.index("Education")
    keep = np.where(education & (doy >= 168) & (doy < 238), np.minimum(keep, 0.5), keep)
    hospitality = w.segment[account] == SEGMENT_NAMES.index("Hospitality")
    keep = np.where(hospitality & (doy < 59), np.minimum(keep, 0.8), keep)
    decaying = (
        w.defect_decay[account] & (w.defect_since[account] >= 0) & (days >= w.defect_since[account])
    )
    keep = np.where(decaying, np.minimum(keep, 0.25), keep)
    kept = first | (rng.random(len(days)) < keep)
    account, days, first = account[kept], days[kept], first[kept]

    inside = (days >= w.first_day[account]) & (days <= end[account])
    account, days = account[inside], days[inside]

    # one-off buyers: exactly one order
    one_off = np.flatnonzero(w.kind == ONE_OFF)
    low = np.maximum(w.first_day[one_off], 0)
    one_day = low + np.floor(rng.random(len(one_off)) * np.maximum(last - 75 - low, 1)).astype(
        np.int64
    )
    account = np.concatenate([account, one_off])
    days = np.concatenate([days, one_day])

    key = _unique(account * (w.n_days + 8) + days)
    w.order_account = key // (w.n_days + 8)
    w.order_day = key % (w.n_days + 8)


PAIR_CHUNK = 4_000_000
"""Order x category pairs evaluated at a time (bounds memory at 100k accounts)."""


def _line_chunk(
    w: _World,
    rng: np.random.Generator,
    orders: np.ndarray,
    position: np.ndarray,
    previous: np.ndarray,
    basic_category: np.ndarray,
) -> dict[str, np.ndarray]:
    """Lines of the orders with indices ``orders`` (a contiguous slice of all orders)."""
    order_account = w.order_account[orders]
    streams_per_account = np.bincount(w.st_account, minlength=w.n)
    per_order = streams_per_account[order_account]
    pair_order = np.repeat(orders, per_order)
    pair_stream = np.repeat(_offsets(streams_per_account)[order_account], per_order) + _within(
        per_order
    )
    day = w.order_day[pair_order]
    start = w.st_start[pair_stream]
    k = w.st_k[pair_stream]
    include = (day >= start) & (day < w.st_stop[pair_stream])
    first_after_start = previous[pair_order] < start
    periodic = ((position[pair_order] + w.st_phase[pair_stream]) % k) == 0
    # now and then a category is skipped or added: rarely for long cycles (one skip doubles
    # the gap), more often for volatile buyers
    account = w.st_account[pair_stream]
    volatile = w.kind[account] == VOLATILE
    cycle_days = k * w.cadence[account]
    skip = np.where(volatile, 0.15, 0.06 * np.minimum(1.0, 28.0 / cycle_days))
    extra = np.where(volatile, 0.08, 0.03)
    noise = rng.random(len(k))
    include &= first_after_start | np.where(periodic, noise >= skip, noise < extra)
    inc_order, inc_stream = pair_order[include], pair_stream[include]
    del (
        pair_order,
        pair_stream,
        day,
        start,
        k,
        include,
        first_after_start,
        periodic,
        volatile,
        noise,
        account,
        cycle_days,
        skip,
        extra,
    )

    # products on each included (order, category): the first always, the others often
    n_sku = w.sku_count[inc_stream]
    line_position = _within(n_sku)
    keep = (line_position == 0) | (rng.random(len(line_position)) < SECONDARY_PRODUCT_SHARE)
    line_order = np.repeat(inc_order, n_sku)[keep]
    sku = (np.repeat(w.sku_offset[inc_stream], n_sku) + line_position)[keep]
    category = np.repeat(w.st_category[inc_stream], n_sku)[keep]
    primary = (line_position == 0)[keep]
    del inc_order, inc_stream, n_sku, line_position, keep

    account = w.order_account[line_order]
    line_day = w.order_day[line_order]
    product = w.sku_product[sku]
    sigma = np.where(w.kind[account] == VOLATILE, 0.5, 0.25)
    quantity = w.sku_base_qty[sku] * np.exp(
        sigma * rng.standard_normal(len(sku)) - 0.5 * sigma * sigma
    )
    doy = _day_of_year(w.start, line_day)
    segment = w.segment[account]
    quantity *= np.where(
        (segment == SEGMENT_NAMES.index("Education")) & (doy >= 168) & (doy < 238), 0.7, 1.0
    )
    quantity *= np.where(
        (segment == SEGMENT_NAMES.index("Hospitality")) & (doy >= 152) & (doy < 244), 1.25, 1.0
    )
    decaying = (
        w.defect_decay[account]
        & (w.defect_since[account] >= 0)
        & (line_day >= w.defect_since[account])
    )
    # a decaying account still orders its main product of one basic category, in smaller
    # quantities, and nothing else
    quantity = np.maximum(1.0, np.round(np.where(decaying, quantity * 0.4, quantity)))
    kept = ~decaying | ((category == basic_category[account]) & primary)
    dates = np.datetime64(w.start, "D") + line_day.astype("timedelta64[D]")
    year = dates.astype("datetime64[Y]").astype(np.int64) - (w.start.year - 1970)
    unit_price = np.round(
        w.product_price[product] * w.price_factor[account] * (1.0 + ANNUAL_PRICE_INCREASE) ** year,
        2,
    )
    promo = rng.random(len(sku))
    discount = np.round(
        w.base_discount[account] + np.where(promo < 0.02, 0.05, np.where(promo < 0.03, 0.1, 0.0)), 2
    )
    return {
        "order": line_order[kept].astype(np.int32),
        "product": product[kept].astype(np.int16),
        "category": category[kept].astype(np.int8),
        "quantity": quantity[kept],
        "unit_price": unit_price[kept],
        "discount": discount[kept],
        "amount": np.round(quantity * unit_price * (1.0 - discount), 2)[kept],
    }


def _lines(w: _World) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Which categories and products go on each order, with quantities and prices, in
    chunks of orders. Returns the ``sales_order`` and ``order_line`` frames."""
    n = w.n
    rng = _rng(w.params.seed, "lines")
    m = len(w.order_account)
    position = np.arange(m) - _offsets(np.bincount(w.order_account, minlength=n))[w.order_account]
    previous = np.full(m, -(10**9), dtype=np.int64)
    previous[1:] = w.order_day[:-1]
    previous[position == 0] = -(10**9)
    streams_per_account = np.bincount(w.st_account, minlength=n)
    basic_category = np.where(
        streams_per_account > 0,
        w.st_category[np.minimum(_offsets(streams_per_account), len(w.st_category) - 1)],
        -1,
    )
    pairs = np.cumsum(np.bincount(w.st_account, minlength=n)[w.order_account])
    bounds = np.concatenate(
        [[0], np.searchsorted(pairs, np.arange(PAIR_CHUNK, int(pairs[-1]), PAIR_CHUNK)), [m]]
    )
    parts = [
        _line_chunk(w, rng, np.arange(lo, hi), position, previous, basic_category)
        for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True)
        if hi > lo
    ]
    line = {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}
    del parts, position, previous

    # orders that got no line are no orders. Ids follow (account, date), the order the
    # lines were generated in, so the loader appends to the account/date, order and
    # (order, line) indexes instead of inserting all over them.
    has_lines = np.bincount(line["order"], minlength=m) > 0
    order_id = np.cumsum(has_lines).astype(np.int32)
    line_order_id = order_id[line.pop("order")]
    order_account = w.order_account[has_lines].astype(np.int32)
    order_day = w.order_day[has_lines].astype(np.int32)
    kept = len(order_account)
    key_position = (
        np.arange(len(line_order_id), dtype=np.int32)
        - _offsets(np.bincount(line_order_id)[1:]).astype(np.int32)[line_order_id - 1]
    )
    w.order_account, w.order_day = order_account.astype(np.int64), order_day.astype(np.int64)
    w.line_account = order_account[line_order_id - 1]
    w.line_day = order_day[line_order_id - 1]
    w.line_category = line.pop("category")
    w.line_amount = line["amount"]
    sorted_account = order_account

    orders = pd.DataFrame(
        copy=False,
        data={
            "id": np.arange(1, kept + 1, dtype=np.int32),
            "external_id": _codes("SO-", np.arange(1, kept + 1), 8),
            "account_id": (sorted_account + 1).astype(np.int32),
            "rep_id": w.owner[sorted_account].astype(np.int32),
            "order_date": _dates(w.start, order_day),
        },
    )
    lines = pd.DataFrame(
        copy=False,
        data={
            "id": np.arange(1, len(line_order_id) + 1, dtype=np.int32),
            "order_id": line_order_id,
            "line_key": key_position + 1,
            "account_id": (w.line_account + 1).astype(np.int32),
            "product_id": line.pop("product").astype(np.int32) + 1,
            "order_date": _dates(w.start, w.line_day),
            "quantity": line.pop("quantity"),
            "unit_price": line.pop("unit_price"),
            "discount": line.pop("discount"),
            "amount": w.line_amount,
        },
    )
    return orders, lines


def _gap_stats(days: np.ndarray, account: np.ndarray, n: int) -> dict[str, np.ndarray]:
    """Per account: orders, first/last order day, the median / 10th / 80th / 90th percentile
    and the coefficient of variation of the gaps between consecutive orders (NaN with fewer
    than two orders).
    ``days`` must be sorted by (account, day)."""
    count = np.bincount(account, minlength=n)
    offsets = _offsets(count)
    first = np.full(n, -1, dtype=np.int64)
    last = np.full(n, -1, dtype=np.int64)
    has = count > 0
    first[has] = days[offsets[has]]
    last[has] = days[offsets[has] + count[has] - 1]
    gaps = np.diff(days)
    same = account[1:] == account[:-1]
    frame = pd.DataFrame({"account": account[1:][same], "gap": gaps[same]})
    quantiles = frame.groupby("account")["gap"].quantile([0.1, 0.5, 0.8, 0.9]).unstack()
    out = {"count": count, "first": first, "last": last}
    spread = frame.groupby("account")["gap"].agg(["mean", "std"])
    cv = np.full(n, np.nan)
    cv[spread.index.to_numpy()] = (spread["std"] / spread["mean"]).to_numpy()
    out["cv"] = cv
    for q, name in ((0.1, "p10"), (0.5, "median"), (0.8, "p80"), (0.9, "p90")):
        column = np.full(n, np.nan)
        if len(quantiles):
            column[quantiles.index.to_numpy()] = quantiles[q].to_numpy()
        out[name] = column
    return out


def _planted_truth(w: _World, external_ids: np.ndarray) -> pd.DataFrame:
    """The planted truth, derived from what was actually generated (see PLANTED_KINDS)."""
    n, last = w.n, w.last_day
    n_cat = len(CATEGORY_NAMES)
    stats = _gap_stats(w.order_day, w.order_account, n)
    count, first, last_order = stats["count"], stats["first"], stats["last"]
    # first and last purchase of every (account, category); lines are sorted by date
    key = w.line_account.astype(np.int64) * n_cat + w.line_category
    unique_key, first_index = _first_positions(key)
    first_flat = np.full(n * n_cat, -1, dtype=np.int64)
    first_flat[unique_key] = w.line_day[first_index]
    first_buy = first_flat.reshape(n, n_cat)
    bought = first_buy >= 0
    rows: list[tuple[int, str, str, int | None, str]] = []
    label = np.zeros(n, dtype=bool)

    def fmt_day(day: int) -> str:
        return (w.start + dt.timedelta(days=int(day))).strftime("%b %d, %Y")

    # new accounts
    new = (count > 0) & (first >= last - (NEW_ACCOUNT_DAYS - 1))
    for a in np.flatnonzero(new).tolist():
        rows.append(
            (
                a,
                "",
                "new",
                int(first[a]),
                f"first order {fmt_day(first[a])}; {count[a]} order(s) so far",
            )
        )
    label |= new

    # whole-account defections
    defected = (w.defect_since >= 0) & (count > 0) & (first < w.defect_since)
    since = np.where(defected, w.defect_since, 0)
    line_since = since[w.line_account]
    after = w.line_day >= line_since
    before = (w.line_day < line_since) & (w.line_day >= line_since - 365)
    spend_after = np.bincount(
        w.line_account, weights=np.where(after, w.line_amount, 0.0), minlength=n
    )
    spend_before = np.bincount(
        w.line_account, weights=np.where(before, w.line_amount, 0.0), minlength=n
    )
    for a in np.flatnonzero(defected).tolist():
        s = int(w.defect_since[a])
        window_before = min(365, s - max(int(first[a]), 0))
        rate_before = spend_before[a] / max(window_before, 1)
        rate_after = spend_after[a] / max(last + 1 - s, 1)
        if w.defect_decay[a]:
            drop = 1.0 - rate_after / rate_before if rate_before > 0 else 1.0
            note = f"spend down {drop:.0%} since {fmt_day(s)} (orders every ~{stats['median'][a]:.0f} days before)"
        else:
            note = f"no orders since {fmt_day(s)} (ordered every ~{stats['median'][a]:.0f} days before)"
        rows.append((a, "", "defection", s, note))
    label |= defected

    # one-off, seasonal and volatile buyers (none of them defecting)
    for a in np.flatnonzero((w.kind == ONE_OFF) & ~label & (count == 1)).tolist():
        rows.append((a, "", "one_off", int(first[a]), f"a single order on {fmt_day(first[a])}"))
    end_doy = int(_day_of_year(w.start, np.array([last]))[0])
    # in its off-season now, with last year's off-season in the history when there are two
    # years or more (with less, at least two months of in-season buying before it)
    season_began = last - (end_doy - w.season_start) % 365
    history_needed = 365 if w.n_days >= 730 else 60
    seasonal = (
        (w.kind == SEASONAL) & ~label & (first <= season_began - history_needed)
        & _in_window(np.full(n, end_doy), w.season_start, w.season_len)
    )  # fmt: skip
    for a in np.flatnonzero(seasonal).tolist():
        s = int(season_began[a])
        rows.append(
            (
                a,
                "",
                "seasonal",
                s,
                f"off-season every year from {fmt_day(s)[:6]} for about {w.season_len[a]} days; orders every ~{stats['median'][a]:.0f} days in season",
            )
        )
    recency = last - last_order
    volatile = (
        (w.kind == VOLATILE) & ~label & (count >= 6) & (stats["cv"] >= 0.5)
        & (recency <= stats["p80"])
    )  # fmt: skip
    for a in np.flatnonzero(volatile).tolist():
        rows.append(
            (
                a,
                "",
                "volatile",
                None,
                f"irregular: gaps of {stats['p10'][a]:.0f}-{stats['p90'][a]:.0f} days (median {stats['median'][a]:.0f}); last order {recency[a]} days ago",
            )
        )
    label |= (w.kind == ONE_OFF) | seasonal

    # category defections: stopped one category, still buying the others afterwards
    stopped = np.flatnonzero(w.st_stop <= last)
    for s_idx in stopped.tolist():
        a, c, s = int(w.st_account[s_idx]), int(w.st_category[s_idx]), int(w.st_stop[s_idx])
        if new[a] or not (0 <= first_buy[a, c] < s) or last_order[a] < s:
            continue
        if w.defect_since[a] >= 0 and w.defect_since[a] <= s:
            continue
        others = int(bought[a].sum()) - 1
        rows.append(
            (
                a,
                CATEGORY_NAMES[c],
                "category_defection",
                s,
                f"no {CATEGORY_NAMES[c]} since {fmt_day(s)}; still buys {others} other categor{'y' if others == 1 else 'ies'}",
            )
        )

    # adoptions in the last 90 days by established accounts
    adopted = np.flatnonzero(~w.st_initial)
    for s_idx in adopted.tolist():
        a, c = int(w.st_account[s_idx]), int(w.st_category[s_idx])
        day = int(first_buy[a, c])
        if (
            day < last - (ADOPTION_WINDOW_DAYS - 1)
            or first[a] > last - 180
            or w.defect_since[a] >= 0
        ):
            continue
        rows.append(
            (
                a,
                CATEGORY_NAMES[c],
                "adoption",
                day,
                f"first {CATEGORY_NAMES[c]} order on {fmt_day(day)}; {w.affinity[w.industry[a], c]:.0%} of {INDUSTRY_NAMES[w.industry[a]]} accounts are expected to buy it",
            )
        )

    # cross-sell gaps: never bought a category most of its segment buys
    customers = count > 0
    eligible = (
        customers & ~label & np.isin(w.kind, [STEADY, VOLATILE, SEASONAL]) & (w.defect_since < 0)
        & (count >= 4) & (first <= last - 180)
    )  # fmt: skip
    for segment in range(len(SEGMENTS)):
        members = customers & (w.segment == segment)
        if not members.any():
            continue
        share = bought[members].mean(axis=0)
        for c in np.flatnonzero(share >= CROSS_SELL_PEER_SHARE).tolist():
            gap = eligible & (w.segment == segment) & ~bought[:, c]
            for a in np.flatnonzero(gap).tolist():
                rows.append(
                    (
                        a,
                        CATEGORY_NAMES[c],
                        "cross_sell_gap",
                        None,
                        f"{share[c]:.0%} of {SEGMENT_NAMES[segment]} accounts buy {CATEGORY_NAMES[c]}; this account never has",
                    )
                )

    kind_rank = {kind: i for i, kind in enumerate(PLANTED_KINDS)}
    rows.sort(key=lambda r: (kind_rank[r[2]], r[0], r[1]))
    return pd.DataFrame(
        {
            "account_external_id": [str(external_ids[r[0]]) for r in rows],
            "category": [r[1] for r in rows],
            "kind": [r[2] for r in rows],
            "since": ["" if r[3] is None else _iso(w.start, r[3]) for r in rows],
            "note": [r[4] for r in rows],
        },
        columns=list(PLANTED_TRUTH_COLUMNS),
    )


def _accounts_frame(w: _World) -> pd.DataFrame:
    n = w.n
    rng = _rng(w.params.seed, "account_names")
    taken = {"Acme Foods", "Acme Food Service"}
    names = ["Acme Foods", "Acme Food Service", *_unique_names(rng, w.industry[2:], taken)]
    w.names = names
    city = np.empty(n, dtype=object)
    for r, (_region, _share, cities) in enumerate(REGIONS):
        rows = np.flatnonzero(w.region == r)
        city[rows] = np.array(cities, dtype=object)[rng.integers(0, len(cities), len(rows))]
    revenue_per_employee = np.array([ind[4] for s in SEGMENTS for ind in s[3]], dtype=float)
    ids = np.arange(1, n + 1)
    return pd.DataFrame(
        {
            "id": ids,
            "external_id": _codes("ACC-", ids, max(6, len(str(n)))),
            "name": names,
            "segment": np.array(SEGMENT_NAMES, dtype=object)[w.segment],
            "industry": np.array(INDUSTRY_NAMES, dtype=object)[w.industry],
            "region": np.array([r[0] for r in REGIONS], dtype=object)[w.region],
            "country": "United States",
            "city": city,
            "size": np.array(SIZE_BANDS, dtype=object)[w.size_band],
            "employees": w.employees,
            "annual_revenue": np.round(
                w.employees * revenue_per_employee[w.industry] * rng.lognormal(0, 0.25, n), -3
            ),
            "pricing_tier": np.array(PRICING_TIERS, dtype=object)[w.size_band],
            "created_date": _dates(w.start, w.created_day),
            "owner_id": w.owner,
        }
    )


def _person_names(rng: np.random.Generator, count: int) -> tuple[list[str], list[str]]:
    first = rng.integers(0, len(FIRST_NAMES), count)
    last = rng.integers(0, len(LAST_NAMES), count)
    return [FIRST_NAMES[i] for i in first.tolist()], [LAST_NAMES[i] for i in last.tolist()]


def _contacts(w: _World) -> pd.DataFrame:
    """Contacts with buying-group roles; larger accounts have larger buying groups, and
    some accounts lack a decision maker, finance or a champion."""
    n = w.n
    rng = _rng(w.params.seed, "contacts")
    per_account = np.clip(1 + rng.poisson(0.4 + 0.45 * np.log2(w.scale)), 1, 8)
    account = np.repeat(np.arange(n), per_account)
    position = _within(per_account)
    role = rng.choice(len(BUYING_ROLES), len(account), p=np.array(ROLE_WEIGHTS) / sum(ROLE_WEIGHTS))
    role = np.where((position == 0) & (rng.random(len(account)) < 0.7), 0, role)
    firsts, lasts = _person_names(rng, len(account))
    title_pick = rng.random(len(account))
    domains = [_slug(name)[:24] + ".example" for name in w.names]
    names, emails, titles, phones = [], [], [], []
    for i, (a, r, f, l_, t) in enumerate(
        zip(account.tolist(), role.tolist(), firsts, lasts, title_pick.tolist(), strict=True)
    ):
        names.append(f"{f} {l_}")
        emails.append(f"{f.lower()}.{_slug(l_)}@{domains[a]}")
        options = ROLE_TITLES[BUYING_ROLES[r]]
        titles.append(options[int(t * len(options))])
        phones.append(f"({200 + (i * 37) % 790}) 555-01{i % 100:02d}")
    ids = np.arange(1, len(account) + 1)
    w.contact_account = account
    return pd.DataFrame(
        {
            "id": ids,
            "external_id": _codes("CON-", ids, max(7, len(str(len(ids))))),
            "name": names,
            "email": emails,
            "title": titles,
            "phone": phones,
            "buying_role": np.array(BUYING_ROLES, dtype=object)[role],
            "account_id": account + 1,
        }
    )


def _funnel(
    rng: np.random.Generator,
    created: np.ndarray,
    medians: Sequence[float],
    advance: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stage entry days (deals x 5), the stage a deal is lost in (5 = won) and the exit
    day (the close, if it happened by the last day). Some deals get stuck: one
    stage lasts three to six times longer than usual."""
    count = len(created)
    durations = np.array(medians)[None, :] * rng.lognormal(0.0, 0.55, (count, len(STAGES)))
    stuck = rng.random(count) < 0.12
    stuck_stage = rng.integers(0, len(STAGES), count)
    durations[stuck, stuck_stage[stuck]] *= rng.uniform(3.0, 6.0, int(stuck.sum()))
    durations = np.maximum(1, np.round(durations)).astype(np.int64)
    moves_on = rng.random((count, len(STAGES))) < advance
    lost_at = np.where(moves_on.all(axis=1), len(STAGES), np.argmin(moves_on, axis=1))
    entered = created[:, None] + np.concatenate(
        [np.zeros((count, 1), dtype=np.int64), np.cumsum(durations, axis=1)[:, :-1]], axis=1
    )
    stage = np.minimum(lost_at, len(STAGES) - 1)
    rows = np.arange(count)
    part = np.where(lost_at < len(STAGES), rng.uniform(0.3, 1.0, count), 1.0)
    exit_day = entered[rows, stage] + np.maximum(1, np.round(durations[rows, stage] * part)).astype(
        np.int64
    )
    return entered, lost_at, exit_day


NEW_BUSINESS_MEDIANS = (6.0, 9.0, 12.0, 12.0, 9.0)
EXPANSION_MEDIANS = (21.0, 30.0, 45.0, 45.0, 35.0)
STAGE_ADVANCE = np.array([0.7, 0.72, 0.75, 0.68, 0.75])


def _leads(w: _World) -> pd.DataFrame:
    """Leads by source. Converted leads became the in-history accounts; conversion rates by
    source follow LEAD_CONVERSION (referrals convert far better than outbound), and leads
    that fit the customer profile (segment, size) and were worked more convert more."""
    n, last = w.n, w.last_day
    rng = _rng(w.params.seed, "leads")
    converted_accounts = np.flatnonzero(w.lead_sourced)
    share = np.array(LEAD_SOURCE_SHARE)
    rate = np.array(LEAD_CONVERSION)
    weights = share * rate
    converted_source = rng.choice(
        len(LEAD_SOURCES), len(converted_accounts), p=weights / weights.sum()
    )
    per_source = np.bincount(converted_source, minlength=len(LEAD_SOURCES))
    open_count = np.round(per_source * (1 - rate) / rate).astype(np.int64)
    lost_source = np.repeat(np.arange(len(LEAD_SOURCES)), open_count)
    n_lost = len(lost_source)

    # the unconverted: half look like customers, half fit poorly (small, off-profile segments)
    poor = rng.random(n_lost) < 0.5
    seg_share = np.array([s[1] for s in SEGMENTS])
    segment = np.where(
        poor,
        rng.integers(0, len(SEGMENTS), n_lost),
        rng.choice(len(SEGMENTS), n_lost, p=seg_share / seg_share.sum()),
    )
    industry_offsets = np.cumsum([0] + [len(s[3]) for s in SEGMENTS])
    industry_count = np.diff(industry_offsets)
    industry = industry_offsets[segment] + (rng.random(n_lost) * industry_count[segment]).astype(
        np.int64
    )
    region_share = np.array([r[1] for r in REGIONS])
    region = rng.choice(len(REGIONS), n_lost, p=region_share / region_share.sum())
    median_employees = np.array([ind[3] for s in SEGMENTS for ind in s[3]], dtype=float)
    employees = np.maximum(
        2,
        np.round(
            median_employees[industry] * np.where(poor, 0.35, 1.0) * rng.lognormal(0, 0.6, n_lost)
        ),
    ).astype(np.int64)
    created_lost = rng.integers(-60, last + 1, n_lost)
    status_lost = np.where(created_lost >= last - 90, "open", "disqualified")
    owner_lost = np.array(
        [
            w.region_reps[r][int(u * len(w.region_reps[r]))]
            for r, u in zip(region.tolist(), rng.random(n_lost).tolist(), strict=True)
        ],
        dtype=np.int64,
    )
    taken = set(w.names)
    lost_names = _unique_names(rng, industry, taken)

    converted_day = w.created_day[converted_accounts]
    created_conv = converted_day - rng.integers(5, 60, len(converted_accounts))

    count = len(converted_accounts) + n_lost
    order = np.argsort(np.concatenate([created_conv, created_lost]), kind="stable")
    source = np.concatenate([converted_source, lost_source])[order]
    firsts, lasts = _person_names(rng, count)
    company = np.array(
        [w.names[a] for a in converted_accounts.tolist()] + lost_names, dtype=object
    )[order]
    contact_names = [f"{f} {l_}" for f, l_ in zip(firsts, lasts, strict=True)]
    emails = [
        f"{f.lower()}.{_slug(l_)}@{_slug(c)[:24]}.example"
        for f, l_, c in zip(firsts, lasts, company.tolist(), strict=True)
    ]
    account_id = np.concatenate([converted_accounts + 1, np.zeros(n_lost, dtype=np.int64)])[order]
    ids = np.arange(1, count + 1)
    lead_of_account = np.zeros(n, dtype=np.int64)
    lead_of_account[account_id[account_id > 0] - 1] = ids[account_id > 0]
    w.lead_of_account = lead_of_account
    w.lead_source_of_account = np.full(n, "", dtype=object)
    w.lead_source_of_account[converted_accounts] = np.array(LEAD_SOURCES, dtype=object)[
        converted_source
    ]
    frame = pd.DataFrame(
        {
            "id": ids,
            "external_id": _codes("LEAD-", ids, max(7, len(str(count)))),
            "company": company,
            "contact_name": contact_names,
            "email": emails,
            "source": np.array(LEAD_SOURCES, dtype=object)[source],
            "segment": np.array(SEGMENT_NAMES, dtype=object)[
                np.concatenate([w.segment[converted_accounts], segment])[order]
            ],
            "industry": np.array(INDUSTRY_NAMES, dtype=object)[
                np.concatenate([w.industry[converted_accounts], industry])[order]
            ],
            "region": np.array([r[0] for r in REGIONS], dtype=object)[
                np.concatenate([w.region[converted_accounts], region])[order]
            ],
            "employees": np.concatenate([w.employees[converted_accounts], employees])[order],
            "status": np.concatenate(
                [
                    np.full(len(converted_accounts), "converted", dtype=object),
                    status_lost.astype(object),
                ]
            )[order],
            "created_date": _dates(w.start, np.concatenate([created_conv, created_lost])[order]),
            "converted_date": pd.array(
                np.concatenate(
                    [
                        _dates(w.start, converted_day),
                        np.full(n_lost, np.datetime64("NaT"), dtype="datetime64[s]"),
                    ]
                )[order]
            ),
            "owner_id": np.concatenate([w.owner[converted_accounts], owner_lost])[order],
            "account_id": pd.array(np.where(account_id > 0, account_id, 0), dtype="Int64"),
        }
    )
    frame.loc[frame["account_id"] == 0, "account_id"] = pd.NA
    w.lead_created = np.concatenate([created_conv, created_lost])[order]
    w.lead_converted = np.concatenate([converted_day, np.full(n_lost, -1)])[order]
    w.lead_owner = frame["owner_id"].to_numpy(dtype=np.int64)
    return frame


def _opportunities(w: _World) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Deals: the new-business deal of every lead-sourced account (won when it became a
    customer; open or lost for prospects), expansion deals at customers, and four
    showcase deals in the demo rep's book. Returns the opportunity and stage history frames."""
    last = w.last_day
    rng = _rng(w.params.seed, "opportunities")
    n_stages = len(STAGES)

    # new business: customers (won exactly on their won day) and prospects (open or lost)
    customer_nb = np.flatnonzero(w.lead_sourced & (w.kind != PROSPECT))
    prospect_nb = np.flatnonzero(w.kind == PROSPECT)
    src_factor = {
        "referral": 1.12,
        "partner": 1.08,
        "inbound": 1.0,
        "event": 0.97,
        "outbound": 0.85,
    }
    advance = np.minimum(
        0.97,
        STAGE_ADVANCE[None, :]
        * np.array([src_factor[s] for s in w.lead_source_of_account[prospect_nb]])[:, None],
    )
    entered_p, lost_p, exit_p = _funnel(
        rng, w.created_day[prospect_nb], NEW_BUSINESS_MEDIANS, advance
    )
    lost_p = np.minimum(lost_p, n_stages - 1)  # a prospect's first deal is not won (yet)
    # customers: stage durations scaled to span creation -> won day exactly
    span = np.maximum(w.won_day[customer_nb] - w.created_day[customer_nb], n_stages)
    raw = np.array(NEW_BUSINESS_MEDIANS)[None, :] * rng.lognormal(
        0, 0.4, (len(customer_nb), n_stages)
    )
    dur = np.maximum(1, np.floor(raw / raw.sum(axis=1, keepdims=True) * span[:, None])).astype(
        np.int64
    )
    dur[:, -1] += span - dur.sum(axis=1)
    entered_c = w.created_day[customer_nb][:, None] + np.concatenate(
        [np.zeros((len(customer_nb), 1), dtype=np.int64), np.cumsum(dur, axis=1)[:, :-1]], axis=1
    )
    exit_c = w.won_day[customer_nb]

    # expansion deals at customers
    customers = np.flatnonzero(w.kind != PROSPECT)
    # deals under way when history begins count too (their stages reach back before it)
    since = np.where(
        w.origin[customers] == PRE_EXISTING, -300, np.maximum(w.first_day[customers], 0)
    )
    years_active = np.maximum(last - since, 30) / 365.25
    per_account = rng.poisson(0.1 * years_active * (1 + 0.35 * np.log2(w.scale[customers])))
    exp_account = np.repeat(customers, per_account)
    low = np.repeat(since, per_account)
    exp_created = low + np.floor(rng.random(len(exp_account)) * (last + 1 - low)).astype(np.int64)
    advance = np.broadcast_to(np.minimum(0.97, STAGE_ADVANCE * 1.05), (len(exp_account), n_stages))
    entered_e, lost_e, exit_e = _funnel(rng, exp_created, EXPANSION_MEDIANS, advance)

    # showcase deals in the demo rep's book: stuck in proposal and quiet, in negotiation,
    # in needs analysis, and a fresh one in qualification
    book = np.flatnonzero((w.owner == w.demo_rep_id) & (w.kind == STEADY))
    others = book[(book > ACME_FOOD_SERVICE)]
    others = others[np.argsort(-w.scale[others], kind="stable")][:2]
    show_account = np.array([ACME_FOODS, ACME_FOOD_SERVICE, *others.tolist()], dtype=np.int64)
    show_stage = np.array([3, 4, 2, 1])[: len(show_account)]
    show_in_stage = np.array([110, 12, 20, 9])[: len(show_account)]
    show_created = np.array([last - 270, last - 150, last - 80, last - 25])[: len(show_account)]
    show_entered = np.zeros((len(show_account), n_stages), dtype=np.int64)
    for i in range(len(show_account)):
        current_entry = last - show_in_stage[i]
        steps = (
            np.linspace(show_created[i], current_entry, int(show_stage[i]) + 1)
            .round()
            .astype(np.int64)
        )
        show_entered[i, : show_stage[i] + 1] = steps
        show_entered[i, show_stage[i] + 1 :] = last + 365
    show_exit = np.full(len(show_account), last + 365)
    show_lost = show_stage.copy()

    account = np.concatenate([customer_nb, prospect_nb, exp_account, show_account])
    entered = np.concatenate([entered_c, entered_p, entered_e, show_entered])
    lost_at = np.concatenate([np.full(len(customer_nb), n_stages), lost_p, lost_e, show_lost])
    exit_day = np.concatenate([exit_c, exit_p, exit_e, show_exit])
    is_new_business = np.concatenate(
        [
            np.ones(len(customer_nb) + len(prospect_nb), dtype=bool),
            np.zeros(len(exp_account) + len(show_account), dtype=bool),
        ]
    )
    showcase = np.concatenate(
        [
            np.zeros(len(account) - len(show_account), dtype=bool),
            np.ones(len(show_account), dtype=bool),
        ]
    )
    created = entered[:, 0]
    count = len(account)
    closed = exit_day <= last
    won = closed & (lost_at == n_stages)
    reached = (entered <= last) & (
        np.arange(n_stages)[None, :] <= np.minimum(lost_at, n_stages - 1)[:, None]
    )
    current = reached.sum(axis=1) - 1

    # amounts: annual value of the deal, scaled by the account's size
    scale = w.scale[account]
    amount = np.where(
        is_new_business,
        np.round(scale * 6000.0 * rng.lognormal(0, 0.3, count), -2),
        np.round(np.exp(rng.normal(np.log(3000.0 * scale**0.85), 0.5)), -2),
    )
    amount = np.maximum(amount, 1000.0)
    amount[showcase] = np.round(amount[showcase] * 1.5 + 20000.0, -2)

    # expected close: open deals usually in the future; stuck ones often already slipped
    typical = np.cumsum(np.array(EXPANSION_MEDIANS)[::-1])[::-1]
    row = np.arange(count)
    days_in_stage = last - entered[row, current]
    remaining = typical[current]
    expected = np.maximum(last + 7, entered[row, current] + remaining).astype(np.int64)
    slipped = (
        ~closed
        & (days_in_stage > 2 * np.array(EXPANSION_MEDIANS)[current])
        & (rng.random(count) < 0.5)
    )
    expected = np.where(slipped, last - rng.integers(5, 60, count), expected)
    expected[showcase] = np.array([last - 20, last + 18, last + 75, last + 120])[
        : int(showcase.sum())
    ]
    close_day = np.where(closed, exit_day, expected)

    stage_name = np.array([*STAGES], dtype=object)[current]
    stage_name = np.where(won, WON_STAGE, np.where(closed, LOST_STAGE, stage_name))
    category_pick = rng.choice(len(CATEGORY_NAMES), count)
    kind_pick = rng.integers(0, len(OPP_KINDS), count)
    names = []
    for a, nb, c, k in zip(
        account.tolist(),
        is_new_business.tolist(),
        category_pick.tolist(),
        kind_pick.tolist(),
        strict=True,
    ):
        label = "New account" if nb else OPP_KINDS[k].format(category=CATEGORY_NAMES[c])
        names.append(f"{w.names[a]} - {label}")
    show_names = [
        "Cleaning Supplies program",
        "Annual supply agreement renewal",
        "Janitorial Equipment program",
        "Breakroom program",
    ]
    for i, idx in enumerate(np.flatnonzero(showcase).tolist()):
        names[idx] = f"{w.names[account[idx]]} - {show_names[i]}"
    next_step = np.array(
        [
            OPEN_NEXT_STEPS[s][int(u * 3)] if s in OPEN_NEXT_STEPS else None
            for s, u in zip(stage_name.tolist(), rng.random(count).tolist(), strict=True)
        ],
        dtype=object,
    )
    source = np.where(is_new_business, w.lead_source_of_account[account], "existing_customer")
    lead_id = np.where(is_new_business, w.lead_of_account[account], 0)

    # keep deals whose story touches the history window: a deal created before history
    # began is kept when it closed inside history or is still open
    keep = (close_day >= 0) | ~closed
    keep &= created <= last
    ids = np.cumsum(keep)
    opp_ids = np.arange(1, int(keep.sum()) + 1)
    opportunities = pd.DataFrame(
        {
            "id": opp_ids,
            "external_id": _codes("OPP-", opp_ids, max(6, len(str(len(opp_ids))))),
            "name": np.array(names, dtype=object)[keep],
            "amount": amount[keep],
            "stage": stage_name[keep],
            "created_date": _dates(w.start, created[keep]),
            "close_date": _dates(w.start, close_day[keep]),
            "is_closed": closed[keep],
            "is_won": won[keep],
            "source": source[keep],
            "forecast_category": np.array(
                [FORECAST_CATEGORY[s] for s in stage_name[keep].tolist()], dtype=object
            ),
            "next_step": next_step[keep],
            "account_id": account[keep] + 1,
            "owner_id": w.owner[account[keep]],
            "lead_id": pd.array(np.where(lead_id[keep] > 0, lead_id[keep], 0), dtype="Int64"),
        }
    )
    opportunities.loc[opportunities["lead_id"] == 0, "lead_id"] = pd.NA

    # stage history: every stage entered (on or before the last day), then the close
    history_mask = reached & keep[:, None]
    h_opp, h_stage = np.nonzero(history_mask)
    h_day = entered[h_opp, h_stage]
    early = h_stage < STAGES.index("proposal")
    h_amount = np.where(
        early, np.round(amount[h_opp] * rng.uniform(0.8, 1.3, len(h_opp)), -2), amount[h_opp]
    )
    closing = np.flatnonzero(closed & keep)
    history = pd.DataFrame(
        {
            "opportunity_id": np.concatenate([ids[h_opp], ids[closing]]),
            "stage": np.concatenate(
                [np.array([*STAGES], dtype=object)[h_stage], stage_name[closing]]
            ),
            "entered_date": _dates(w.start, np.concatenate([h_day, exit_day[closing]])),
            "amount": np.concatenate([h_amount, amount[closing]]),
        }
    )
    history = history.sort_values(["opportunity_id", "entered_date"], kind="stable").reset_index(
        drop=True
    )
    history.insert(0, "id", np.arange(1, len(history) + 1))

    kept = np.flatnonzero(keep)
    quiet = ~closed[kept] & (rng.random(len(kept)) < 0.25)
    quiet_from = np.where(quiet, last - rng.integers(25, 75, len(kept)), last + 1)
    quiet_from[showcase[kept]] = np.array([last - 50, last + 1, last + 1, last + 1])[
        : int(showcase.sum())
    ]
    w.opp_account = account[kept]
    w.opp_created = created[kept]
    w.opp_end = np.where(closed[kept], exit_day[kept], last)
    w.opp_quiet_from = quiet_from
    w.opp_won = won[kept]
    w.opp_amount = amount[kept]
    w.opp_close = close_day[kept]
    return opportunities, history


def _activities(w: _World) -> pd.DataFrame:
    """Calls, e-mails and meetings on deals (some deals go quiet), on larger accounts
    (check-ins, business reviews) and on leads (outreach)."""
    last = w.last_day
    rng = _rng(w.params.seed, "activities")
    kinds = ("call", "email", "meeting")

    # deals: about one touch every ten days while the deal is alive, none once it is quiet
    active_until = np.minimum(w.opp_end, w.opp_quiet_from - 1)
    span = np.maximum(active_until - w.opp_created, 0)
    per_opp = np.where(active_until >= w.opp_created, 1 + rng.poisson(span / 10.0), 0)
    opp = np.repeat(np.arange(len(w.opp_account)), per_opp)
    opp_day = w.opp_created[opp] + np.floor(rng.random(len(opp)) * (span[opp] + 1)).astype(np.int64)
    opp_account = w.opp_account[opp]

    # relationship touches on larger customers
    big = np.flatnonzero((w.scale >= 4.0) & (w.kind != PROSPECT))
    low = np.maximum(w.first_day[big], 0)
    until = np.where(w.defect_since[big] >= 0, np.minimum(w.defect_since[big] + 30, last), last)
    per_account = rng.poisson(np.maximum(until - low, 0) / 365.25 * 3.0)
    acc = np.repeat(big, per_account)
    acc_day = np.repeat(low, per_account) + np.floor(
        rng.random(len(acc)) * (np.repeat(until - low, per_account) + 1)
    ).astype(np.int64)

    # leads: outreach before conversion (more for converted leads)
    converted = w.lead_converted >= 0
    per_lead = np.where(
        converted, 2 + rng.poisson(2.0, len(converted)), rng.poisson(0.8, len(converted))
    )
    lead = np.repeat(np.arange(len(converted)), per_lead)
    lead_end = np.where(converted, w.lead_converted, np.minimum(w.lead_created + 45, last))
    lead_span = np.maximum(lead_end - w.lead_created, 0)
    lead_day = w.lead_created[lead] + np.floor(
        rng.random(len(lead)) * (lead_span[lead] + 1)
    ).astype(np.int64)

    total = len(opp) + len(acc) + len(lead)
    day = np.concatenate([opp_day, acc_day, lead_day])
    account = np.concatenate([opp_account, acc, np.full(len(lead), -1)])
    rep = np.concatenate([w.owner[opp_account], w.owner[acc], w.lead_owner[lead]])
    opportunity_id = np.concatenate([opp + 1, np.zeros(len(acc) + len(lead), dtype=np.int64)])
    lead_id = np.concatenate([np.zeros(len(opp) + len(acc), dtype=np.int64), lead + 1])
    kind = np.concatenate(
        [
            rng.choice(3, len(opp), p=[0.4, 0.45, 0.15]),
            rng.choice(3, len(acc), p=[0.45, 0.25, 0.3]),
            rng.choice(2, len(lead), p=[0.55, 0.45]),
        ]
    )
    # the account's contact for calls and meetings
    contacts_per_account = np.bincount(w.contact_account, minlength=w.n)
    contact_offset = _offsets(contacts_per_account)
    pick = np.floor(rng.random(total) * contacts_per_account[np.maximum(account, 0)]).astype(
        np.int64
    )
    contact = np.where(
        (account >= 0) & (kind != 1), contact_offset[np.maximum(account, 0)] + pick + 1, 0
    )
    subject_pick = rng.random(total)
    subjects = np.array(
        [
            ACTIVITY_SUBJECTS[kinds[k]][int(u * len(ACTIVITY_SUBJECTS[kinds[k]]))]
            for k, u in zip(kind.tolist(), subject_pick.tolist(), strict=True)
        ],
        dtype=object,
    )
    minutes = rng.integers(8 * 60, 17 * 60, total)
    zones = np.array([w.rep_zone[r] for r in range(1, len(w.reps) + 1)], dtype=object)[rep - 1]
    occurred = _local_to_utc(day, minutes, zones, w.start)
    order = np.argsort(occurred.dt.tz_localize(None).to_numpy(), kind="stable")
    ids = np.arange(1, total + 1)

    def nullable(values: np.ndarray) -> pd.arrays.IntegerArray:
        array = pd.array(values[order], dtype="Int64")
        array[values[order] <= 0] = pd.NA
        return array

    return pd.DataFrame(
        {
            "id": ids,
            "external_id": _codes("ACT-", ids, max(8, len(str(total)))),
            "kind": np.array(kinds, dtype=object)[kind][order],
            "occurred_at": occurred.iloc[order].reset_index(drop=True),
            "subject": subjects[order],
            "origin": "demo",
            "rep_id": rep[order],
            "account_id": nullable(account + 1),
            "opportunity_id": nullable(opportunity_id),
            "lead_id": nullable(lead_id),
            "contact_id": nullable(contact),
        }
    )


def _targets(w: _World) -> pd.DataFrame:
    """Quarterly quotas per rep: revenue (order value, 5% over the trailing four quarters)
    and bookings (won deal value, 10% over the rep's quarterly average)."""
    start, end = w.start, w.start + dt.timedelta(days=w.last_day)
    first_q = (start.year, (start.month - 1) // 3)
    last_q = (end.year, (end.month - 1) // 3 + 1)
    quarters: list[tuple[dt.date, dt.date]] = []
    year, q = first_q
    while (year, q) <= last_q:
        q_start = dt.date(year, 3 * q + 1, 1)
        q_end = (dt.date(year + (q == 3), (3 * q + 3) % 12 + 1, 1)) - dt.timedelta(days=1)
        quarters.append((q_start, q_end))
        year, q = (year + 1, 0) if q == 3 else (year, q + 1)
    edges = np.array(
        [(qs - start).days for qs, _ in quarters] + [(quarters[-1][1] - start).days + 1]
    )
    line_quarter = np.searchsorted(edges, w.line_day, side="right") - 1
    reps = w.reps.loc[w.reps["role"] == "rep", "id"].to_numpy()
    rep_index = {int(r): i for i, r in enumerate(reps)}
    owner_index = np.array([rep_index.get(int(o), -1) for o in w.owner])
    line_rep = owner_index[w.line_account]
    nq = len(quarters)
    revenue = np.bincount(
        line_rep * nq + line_quarter, weights=w.line_amount, minlength=len(reps) * nq
    ).reshape(len(reps), nq)
    won_quarter = np.searchsorted(edges, w.opp_close, side="right") - 1
    won = w.opp_won & (w.opp_close >= 0) & (w.opp_close <= w.last_day)
    opp_rep = owner_index[w.opp_account]
    bookings = np.bincount(
        (opp_rep * nq + won_quarter)[won], weights=w.opp_amount[won], minlength=len(reps) * nq
    ).reshape(len(reps), nq)
    full = revenue[:, 1:-2] if nq > 3 else revenue
    rows = []
    for i, rep_id in enumerate(reps.tolist()):
        average_revenue = float(full[i].mean()) if full.shape[1] else 0.0
        booking_target = max(10_000.0, round(1.1 * float(bookings[i].mean()), -3))
        for j, (q_start, q_end) in enumerate(quarters):
            trailing = revenue[i, max(1, j - 4) : min(j, nq - 2)]
            base = float(trailing.mean()) if j >= 2 and len(trailing) else average_revenue
            rows.append((rep_id, q_start, q_end, "revenue", max(1000.0, round(1.05 * base, -3))))
            rows.append((rep_id, q_start, q_end, "bookings", booking_target))
    frame = pd.DataFrame(rows, columns=["rep_id", "period_start", "period_end", "metric", "amount"])
    frame.insert(0, "id", np.arange(1, len(frame) + 1))
    return frame


WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday")


def _calls(w: _World, contacts: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A few recent call recordings with transcripts (pricing objections, competitors,
    decision process, next steps), five of them in the demo rep's book."""
    last = w.last_day
    rng = _rng(w.params.seed, "calls")
    reps = w.reps.loc[w.reps["role"] == "rep", "id"].to_numpy()
    others = [int(r) for r in reps if int(r) != w.demo_rep_id]
    buys = np.zeros((w.n, len(CATEGORY_NAMES)), dtype=bool)
    buys[w.line_account, w.line_category] = True
    selling = set(w.owner[(w.kind != PROSPECT) & buys.any(axis=1)].tolist())
    others = [r for r in others if r in selling]
    callers = [w.demo_rep_id] * 5 + [others[i] for i in rng.permutation(len(others))[:9].tolist()]
    callers = [r for r in callers if r in selling]
    open_deal = w.opp_end >= last
    rep_name = dict(zip(w.reps["id"].tolist(), w.reps["name"].tolist(), strict=True))
    contact_name = contacts["name"].to_numpy()
    contact_role = contacts["buying_role"].to_numpy()
    contacts_per_account = np.bincount(w.contact_account, minlength=w.n)
    contact_offset = _offsets(contacts_per_account)
    call_rows: list[dict[str, Any]] = []
    utterance_rows: list[dict[str, Any]] = []
    used: set[int] = set()
    for i, rep_id in enumerate(callers):
        book = np.flatnonzero((w.owner == rep_id) & (w.kind != PROSPECT) & buys.any(axis=1))
        with_deal = np.intersect1d(book, w.opp_account[open_deal])
        pool = [a for a in (with_deal.tolist() or book.tolist()) if a not in used] or book.tolist()
        pool.sort(key=lambda a: -w.scale[a])
        account = int(pool[min(int(rng.integers(0, 3)), len(pool) - 1)])
        used.add(account)
        deals = np.flatnonzero(open_deal & (w.opp_account == account))
        own = np.arange(
            contact_offset[account], contact_offset[account] + contacts_per_account[account]
        )
        preferred = [
            c
            for c in own.tolist()
            if contact_role[c] in ("decision_maker", "procurement", "finance")
        ]
        contact = int((preferred or own.tolist())[0])
        bought = np.flatnonzero(buys[account]).tolist()
        category = CATEGORY_NAMES[bought[0]]
        category2 = (
            CATEGORY_NAMES[bought[1]]
            if len(bought) > 1
            else CATEGORY_NAMES[(bought[0] + 1) % len(CATEGORY_NAMES)]
        )
        template_title, template = CALL_TEMPLATES[i % len(CALL_TEMPLATES)]
        values = {
            "rep": rep_name[rep_id].split(" ")[0],
            "contact": str(contact_name[contact]).split(" ")[0],
            "account": w.names[account],
            "category": category,
            "category2": category2,
            "competitor": COMPETITORS[int(rng.integers(0, len(COMPETITORS)))][0],
            "price": f"{round(w.scale[account] * 450, -1):,.0f}",
            "discount": str(int(rng.choice([3, 4, 5]))),
            "weekday": WEEKDAYS[int(w.weekday[account])],
        }
        call_id = i + 1
        day = last - int(rng.integers(1, 28)) if rep_id != w.demo_rep_id else last - 2 - 4 * (i % 5)
        minutes = int(rng.integers(10 * 60, 16 * 60))
        started = _local_to_utc(
            np.array([day]), np.array([minutes]), np.array([w.rep_zone[rep_id]]), w.start
        )
        call_rows.append(
            {
                "id": call_id,
                "external_id": f"CALL-{call_id:05d}",
                "title": template_title.format(**values),
                "account_id": account + 1,
                "rep_id": rep_id,
                "opportunity_id": int(deals[0]) + 1 if len(deals) else None,
                "started_at": started.iloc[0],
                "rep_speaker": rep_name[rep_id],
                "source": "import",
                "status": "reviewed",
            }
        )
        clock = 2.0
        for seq, (side, text) in enumerate(template):
            said = text.format(**values)
            utterance_rows.append(
                {
                    "call_id": call_id,
                    "seq": seq,
                    "speaker": rep_name[rep_id] if side == "rep" else str(contact_name[contact]),
                    "is_rep": side == "rep",
                    "start_seconds": round(clock, 1),
                    "text": said,
                }
            )
            clock += len(said.split()) / 2.6 + 0.8 + float(rng.random())
    calls = pd.DataFrame(call_rows)
    calls["opportunity_id"] = pd.array(calls["opportunity_id"], dtype="Int64")
    calls["started_at"] = pd.to_datetime(calls["started_at"], utc=True)
    utterances = pd.DataFrame(utterance_rows)
    utterances.insert(0, "id", np.arange(1, len(utterances) + 1))
    return calls, utterances


def _competitors(params: DemoParams) -> pd.DataFrame:
    created = dt.datetime.combine(params.start_date, dt.time(9), tzinfo=dt.UTC)
    return pd.DataFrame(
        {
            "name": [c[0] for c in COMPETITORS],
            "aliases": [list(c[1]) for c in COMPETITORS],
            "battlecard": [c[2] for c in COMPETITORS],
            "created_at": pd.to_datetime([created] * len(COMPETITORS), utc=True),
        }
    )


def generate_demo(params: DemoParams) -> DemoData:
    """Generate the demo distributor. A pure function of ``params``."""
    import time

    started = time.perf_counter()
    reps, zones, demo_rep, region_reps = _reps(params)
    w = _World(
        params=params,
        start=params.start_date,
        n_days=params.n_days,
        weekday0=params.start_date.weekday(),
        reps=reps,
        rep_zone=zones,
        demo_rep_id=demo_rep,
        region_reps=region_reps,
    )
    _accounts(w)
    _defections(w)
    _streams(w)
    products = _products(w)
    _stream_products(w, products)
    _orders(w)
    orders, lines = _lines(w)
    accounts = _accounts_frame(w)
    contacts = _contacts(w)
    leads = _leads(w)
    opportunities, history = _opportunities(w)
    activities = _activities(w)
    targets = _targets(w)
    calls, utterances = _calls(w, contacts)
    planted = _planted_truth(w, accounts["external_id"].to_numpy())
    tables = {
        "rep": reps,
        "account": accounts,
        "contact": contacts,
        "product": products,
        "sales_order": orders,
        "order_line": lines,
        "lead": leads,
        "opportunity": opportunities,
        "opportunity_stage_history": history,
        "activity": activities,
        "target": targets,
        "call": calls,
        "utterance": utterances,
    }
    stats = {
        "order_lines": float(len(lines)),
        "orders": float(len(orders)),
        "revenue": float(lines["amount"].sum()),
    }
    return DemoData(
        params=params,
        tables=tables,
        planted_truth=planted,
        competitors=_competitors(params),
        seconds=time.perf_counter() - started,
        stats=stats,
    )


# =====================================================================================
# Writing
# =====================================================================================

BUSINESS_TABLES: tuple[type[Any], ...] = (
    CoachingFlag,
    Utterance,
    Call,
    Recommendation,
    CategoryHealth,
    AccountHealth,
    ScoreRun,
    DigestSent,
    DigestSubscription,
    Activity,
    OpportunityStageHistory,
    Opportunity,
    Lead,
    Target,
    OrderLine,
    Order,
    Contact,
    AccountTeamMember,
    Account,
    Product,
)
"""Tables cleared by ``--replace``, children first (``rep`` is cleared after them, once
custom trackers no longer point at a rep). Insight and digest tables are included because
they refer to the accounts and reps being replaced; competitors and trackers are
configuration and stay."""

_PRESENCE_TABLES: tuple[type[Any], ...] = (
    Rep,
    Account,
    Product,
    Order,
    OrderLine,
    Opportunity,
    Lead,
    Contact,
    Activity,
    Target,
    Call,
)
_DEFERRED: dict[str, bool | tuple[str, ...]] = {
    # orders and lines arrive in (account, date) order: only these indexes are out of order
    "sales_order": ("ix_sales_order_order_date",),
    "order_line": ("ix_order_line_product_id",),
    "activity": True,
    "contact": True,
    "opportunity_stage_history": True,
}


def _table(model: type[Any]) -> Table:
    """The SQLAlchemy table behind a SQLModel table class."""
    table: Table = model.__table__
    return table


def tables_with_data(engine: Engine) -> list[str]:
    """Names of the business tables that hold at least one row."""
    found = []
    with engine.connect() as conn:
        for model in _PRESENCE_TABLES:
            table: Table = _table(model)
            if conn.execute(select(table.c.id).limit(1)).first() is not None:
                found.append(table.name)
    return found


def _clear_business_data(conn: Any) -> None:
    conn.execute(_table(CustomTracker).update().values(created_by_rep_id=None))
    clear_tables(conn, [_table(model) for model in BUSINESS_TABLES])
    conn.execute(_table(Rep).delete())


def _add_competitors(conn: Any, competitors: pd.DataFrame) -> None:
    table: Table = _table(Competitor)
    existing = {str(name).lower() for (name,) in conn.execute(select(table.c.name))}
    rows = [
        {
            "name": row.name,
            "aliases": list(row.aliases),
            "battlecard": row.battlecard,
            "created_at": row.created_at.to_pydatetime(),
        }
        for row in competitors.itertuples(index=False)
        if str(row.name).lower() not in existing
    ]
    if rows:
        conn.execute(table.insert(), rows)


def write_demo(engine: Engine, data: DemoData, *, replace: bool = False) -> BulkReport:
    """Write ``data`` into the store behind ``engine`` in one transaction.

    Refuses (:class:`StoreNotEmptyError`) when the store already holds business data,
    unless ``replace`` is true: then the business tables (see :data:`BUSINESS_TABLES`) are
    cleared first, in the same transaction. The demo's competitors are added to the
    competitor list when missing."""
    present = tables_with_data(engine)
    if present and not replace:
        raise StoreNotEmptyError(
            "the store already holds business data (" + ", ".join(present) + "); "
            "demo data is only written into an empty store, or with --replace, which deletes "
            "the existing reps, accounts, orders, deals and everything derived from them"
        )

    def prepare(conn: Any) -> None:
        if present:
            _clear_business_data(conn)
        _add_competitors(conn, data.competitors)

    # PostgreSQL builds indexes quickly after a COPY: there every deferred table defers all
    on_postgres = engine.dialect.name == "postgresql"
    loads = [
        BulkLoad(
            _table(model),
            data.tables[model.__tablename__],
            defer_indexes=(
                bool(_DEFERRED.get(model.__tablename__))
                if on_postgres
                else _DEFERRED.get(model.__tablename__, False)
            ),
        )
        for model in TABLE_ORDER
    ]
    return bulk_load(engine, loads, prepare=prepare)


def write_planted_truth(planted: pd.DataFrame, out_dir: Path | str) -> Path:
    """Write ``planted_truth.csv`` into ``out_dir`` (created when missing); same input, same bytes."""
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / PLANTED_TRUTH_FILE
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(PLANTED_TRUTH_COLUMNS)
        writer.writerows(planted[list(PLANTED_TRUTH_COLUMNS)].itertuples(index=False, name=None))
    return path
