#!/usr/bin/env python3
"""make_catalog.py - writes data/catalog.json, the sample catalog librecsys ships.

The catalog is entirely of this project's making: every name, school, brand, director and
restaurant below is invented (any resemblance to a real one is accidental). It is generated
deterministically (a fixed seed, Python's standard library only), so running

    python3 tools/make_catalog.py            # writes data/catalog.json
    python3 tools/make_catalog.py -o FILE    # or another path

always gives the same bytes. Content (about 400 items, four domains of the design card):

  * 110 courses  (category "education", ids course-0001..): online courses on software,
    data, design, business, creative skills and languages. Tags such as backend, scalability,
    architecture, machine-learning, python; attributes level (beginner / intermediate /
    advanced), duration_hours, price (0 = free), rating (1..5), format, certificate (bool);
    provider = an invented school or instructor. One is "Distributed Systems Course", the
    card's own example item.
  * 90 laptops   (category "laptop", ids laptop-0001..): invented brands and model lines in
    six archetypes (gaming, ultraportable, workstation, creator, budget, ai). Attributes price,
    gpu ("RTX 4070", "integrated", ...), vram_gb, ram_gb, storage_gb, battery_hours,
    weight_kg, screen_in, rating, refurbished (bool). About one in eight is out of stock
    (available false); a few are refurbished (cheaper).
  * 130 films    (category "film", ids film-0001..): genres as tags (drama, sci-fi, horror,
    ...), attributes year, runtime_min, rating (1..5), director, language; min_age 12, 16 or
    18 for rated films (0 otherwise); some are licensed only in a few regions ("regions").
  * 70 restaurants (category "restaurant", ids restaurant-0001..): cuisine and features as
    tags, attributes cuisine, price_level (1..4), rating, city, delivery (bool); regions = the
    country of the city (two-letter codes US CA GB DE FR IN JP BR, the same set the synthetic
    users in tools/synth.c live in).

Descriptions are composed from hand-written phrase banks per domain and only state facts
that the item's own attributes carry (durations, GPUs, battery life, runtimes...), so that
grounded explanations can cite them. Creation times fall between 2022 and mid-2025; about one
item in ten is "new" (created in 2025) to give cold-start items.

Only item keys that recsys_catalog_upsert_json() accepts are written: item_id, title,
description, category, provider, tags, regions, available, min_age, created, attributes.
"""
import argparse
import calendar
import json
import os
import random
import sys

SEED = 20250701
REGIONS = ["US", "CA", "GB", "DE", "FR", "IN", "JP", "BR"]


def ts(year, month, day):
    return calendar.timegm((year, month, day, 0, 0, 0, 0, 0, 0))


T_OLD = ts(2022, 1, 1)
T_2025 = ts(2025, 1, 1)
T_LAST = ts(2025, 6, 20)


def created_time(rng):
    """Most items are a few years old; about one in ten was added in 2025."""
    if rng.random() < 0.1:
        return rng.randrange(T_2025, T_LAST) // 60 * 60
    return rng.randrange(T_OLD, T_2025) // 60 * 60


class Unique:
    """Draws from a generator until it yields a value not seen before."""

    def __init__(self):
        self.seen = set()

    def take(self, make, tries=200):
        for _ in range(tries):
            v = make()
            if v not in self.seen:
                self.seen.add(v)
                return v
        raise RuntimeError("could not find a fresh value")


def pick(rng, bank, used=None):
    """A choice that prefers phrases not used yet (avoids visible repetition)."""
    if used is not None:
        fresh = [p for p in bank if p not in used]
        if fresh:
            p = rng.choice(fresh)
            used.add(p)
            return p
    return rng.choice(bank)


def join_list(parts):
    if len(parts) == 1:
        return parts[0]
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def a_an(title):
    """"A Iron Meridian" -> "An Iron Meridian"."""
    if title.startswith("A ") and title[2] in "AEIOU":
        return "An " + title[2:]
    return title


def cap(s):
    return s[0].upper() + s[1:]


# ------------------------------------------------------------------------------- courses

# (subject, tags, what-you-learn bank, capstone bank, audience, tool)
SUBJECTS = [
    ("Distributed Systems", ["backend", "scalability", "architecture", "distributed-systems"],
     ["replication and partitioning", "consensus with Raft", "failure detection and retries",
      "logical clocks and ordering", "consistency models from linearizable to eventual",
      "idempotent request handling"],
     ["a fault-tolerant key-value store", "a replicated job queue that survives node loss"],
     "backend developers who want to reason about failure", "Go"),
    ("System Design", ["system-design", "architecture", "backend", "scalability", "career"],
     ["load balancing and caching layers", "sharding a growing database",
      "rate limiting and back-pressure", "designing for read-heavy feeds",
      "capacity estimates on a napkin", "trade-offs between queues and streams"],
     ["a design review of a URL shortener, a chat service and a news feed",
      "a written design document for a ride-hailing backend"],
     "engineers preparing for senior interviews", "whiteboard"),
    ("Machine Learning", ["machine-learning", "python", "data-science"],
     ["linear and logistic regression", "gradient boosting", "cross-validation done right",
      "feature engineering on messy tables", "model evaluation beyond accuracy",
      "clustering and dimensionality reduction"],
     ["a churn model trained and evaluated end to end",
      "a price predictor with an honest validation report"],
     "analysts and developers who know some Python", "Python"),
    ("Deep Learning", ["deep-learning", "machine-learning", "ai", "python"],
     ["backpropagation from first principles", "convolutional networks", "training tricks that matter",
      "attention and transformers", "regularisation and early stopping", "mixed-precision training"],
     ["an image classifier trained on a single GPU", "a small transformer trained from scratch"],
     "programmers comfortable with calculus and Python", "PyTorch"),
    ("Natural Language Processing", ["nlp", "machine-learning", "ai", "python"],
     ["tokenisation and text normalisation", "word and sentence embeddings",
      "sequence labelling", "fine-tuning pretrained language models", "evaluating text classifiers"],
     ["a support-ticket router", "a named-entity tagger for invoices"],
     "developers who want to work with text data", "Python"),
    ("Computer Vision", ["computer-vision", "deep-learning", "ai", "python"],
     ["image filtering and features", "object detection", "segmentation",
      "data augmentation", "deploying vision models on edge devices"],
     ["a defect detector for a production line", "a plant-species recogniser"],
     "engineers with some machine learning background", "PyTorch"),
    ("LLM Application Development", ["llm", "ai", "python", "machine-learning", "backend"],
     ["prompt design and evaluation", "retrieval-augmented generation", "tool calling",
      "guardrails and grounding", "cost and latency budgets", "structured output parsing"],
     ["a grounded question-answering assistant over your own documents",
      "a support bot with citations and fallbacks"],
     "software engineers shipping their first AI feature", "Python"),
    ("Recommender Systems", ["recommender-systems", "machine-learning", "data-science", "python"],
     ["collaborative filtering and matrix factorisation", "candidate generation and ranking",
      "offline metrics such as NDCG and recall", "cold-start strategies", "feedback loops and bias"],
     ["a two-stage recommender evaluated on a public dataset",
      "a ranking model with a proper time-based split"],
     "data scientists and backend engineers", "Python"),
    ("Data Engineering", ["data-engineering", "sql", "python", "scalability"],
     ["batch and streaming pipelines", "data modelling for analytics", "orchestration and retries",
      "data quality checks", "columnar storage formats"],
     ["a daily pipeline from raw events to a reporting table",
      "a streaming aggregation with late-data handling"],
     "analysts moving into engineering roles", "SQL"),
    ("SQL and Relational Databases", ["databases", "sql", "backend"],
     ["joins, grouping and window functions", "indexes and query plans", "transactions and isolation",
      "schema design and normalisation", "migrations without downtime"],
     ["a reporting schema for an online shop", "a tuned query workload with before-and-after plans"],
     "anyone who works with data every day", "PostgreSQL"),
    ("Cloud Infrastructure", ["cloud", "devops", "architecture"],
     ["networking in the cloud", "infrastructure as code", "identity and access management",
      "cost monitoring", "multi-zone deployments"],
     ["a highly available web service described entirely in code",
      "a cost-optimised staging environment"],
     "developers who deploy their own services", "Terraform"),
    ("Kubernetes", ["kubernetes", "devops", "cloud", "containers"],
     ["pods, deployments and services", "config and secrets", "autoscaling",
      "rolling updates and rollbacks", "observability for clusters"],
     ["a three-tier application running on a local cluster",
      "a zero-downtime upgrade of a stateful service"],
     "developers and operators new to orchestration", "kubectl"),
    ("Modern Web Development", ["frontend", "javascript", "web"],
     ["semantic HTML and accessible components", "CSS layout with grid and flexbox",
      "state management", "client-side routing", "performance budgets for the web"],
     ["a responsive recipe site", "an offline-capable note-taking app"],
     "beginners who want to build for the browser", "JavaScript"),
    ("Backend APIs", ["backend", "python", "web", "databases"],
     ["REST and resource design", "authentication and sessions", "pagination and filtering",
      "background jobs", "testing an API end to end"],
     ["a booking API with authentication and tests", "an inventory service with audit logs"],
     "junior developers who know one programming language", "Python"),
    ("Rust Programming", ["rust", "systems-programming"],
     ["ownership and borrowing", "traits and generics", "error handling without exceptions",
      "fearless concurrency", "unsafe code and FFI"],
     ["a command-line log analyser", "a small multithreaded web server"],
     "programmers coming from C, C++ or Go", "Rust"),
    ("Operating Systems", ["operating-systems", "systems-programming", "backend"],
     ["processes, threads and scheduling", "virtual memory", "file systems",
      "synchronisation primitives", "system calls and the kernel boundary"],
     ["a toy shell with pipes and job control", "a user-space memory allocator"],
     "students and engineers who want to know what is under the hood", "C"),
    ("Computer Networks", ["networking", "backend"],
     ["the TCP/IP stack layer by layer", "congestion control", "DNS and HTTP",
      "TLS handshakes", "debugging with packet captures"],
     ["a reliable transport over UDP", "a caching DNS resolver"],
     "developers who debug production traffic", "Wireshark"),
    ("Cybersecurity", ["security", "networking", "backend"],
     ["threat modelling", "common web vulnerabilities", "secure authentication",
      "incident response basics", "secrets management"],
     ["a security review of a deliberately vulnerable app", "a hardened deployment checklist"],
     "developers responsible for their own services", "OWASP"),
    ("Statistics for Data Science", ["statistics", "data-science", "math"],
     ["probability distributions", "hypothesis testing", "A/B test design",
      "confidence intervals", "Bayesian updating"],
     ["an A/B test analysis with a written recommendation", "a survey analysis with uncertainty"],
     "analysts who want to trust their numbers", "R"),
    ("Linear Algebra for Machine Learning", ["math", "machine-learning"],
     ["vectors, matrices and projections", "eigenvalues and SVD", "least squares",
      "matrix calculus for gradients"],
     ["a from-scratch principal component analysis", "a recommender built on SVD"],
     "learners returning to maths after a break", "NumPy"),
    ("UX Design", ["design", "ux", "product"],
     ["user research interviews", "information architecture", "wireframes and prototypes",
      "usability testing", "design systems"],
     ["a redesigned checkout flow with test results", "a clickable prototype for a banking app"],
     "career changers and product people", "Figma"),
    ("Product Management", ["product", "career", "business"],
     ["discovery and problem framing", "roadmaps that survive contact with reality",
      "metrics and experiments", "working with engineers and designers", "writing a clear spec"],
     ["a product brief and launch plan for a new feature", "a metrics tree for a subscription app"],
     "engineers and designers stepping into product roles", "notebooks"),
    ("Digital Photography", ["photography", "creative"],
     ["exposure, aperture and shutter speed", "composition", "natural light portraits",
      "editing in a raw workflow", "street and travel photography"],
     ["a twelve-image portfolio", "a weekend photo essay"],
     "hobbyists with any camera, including a phone", "camera"),
    ("Music Production", ["music", "creative", "audio"],
     ["rhythm and arrangement", "synthesis basics", "mixing with EQ and compression",
      "sampling", "mastering for streaming"],
     ["a finished three-minute track", "a remix of a provided stem pack"],
     "bedroom producers and curious musicians", "a digital audio workstation"),
    ("Personal Finance", ["finance", "business"],
     ["budgeting that sticks", "index funds and diversification", "taxes on savings",
      "paying down debt", "planning for retirement"],
     ["a one-page financial plan", "a household budget with a savings target"],
     "young professionals", "spreadsheets"),
    ("Conversational Spanish", ["language-learning", "spanish"],
     ["everyday greetings and small talk", "ordering food and travelling", "the past tenses",
      "listening to native speed", "pronunciation drills"],
     ["a recorded ten-minute conversation with a tutor", "a travel diary written in Spanish"],
     "complete beginners", "audio lessons"),
    ("Public Speaking", ["communication", "career"],
     ["structuring a talk", "handling nerves", "slides that support the speaker",
      "storytelling", "answering hard questions"],
     ["a recorded five-minute talk with feedback", "a conference proposal"],
     "anyone who presents at work", "video feedback"),
]

# How a subject reads inside a sentence (default: lower case).
SUBJECT_IN_TEXT = {
    "SQL and Relational Databases": "SQL and relational databases",
    "UX Design": "UX design",
    "LLM Application Development": "LLM application development",
    "Rust Programming": "Rust programming",
    "Conversational Spanish": "conversational Spanish",
    "Backend APIs": "backend APIs",
}

SCHOOLS = [
    "Northbridge Institute", "Lakeside Academy of Computing", "Fenwick School of Engineering",
    "Kestrel Labs", "Open Harbor University", "Copperleaf Learning", "Bramblewood College Online",
    "Dr. Amara Okafor", "Prof. Lena Varga", "Tomas Reyes", "Priya Natarajan", "Henrik Solberg",
    "Maya Lindqvist", "The Quarry Studio", "Saltmarsh School of Design", "Atlas Data Collective",
]

TITLE_FORMS = {
    "beginner": ["Introduction to {s}", "{s} Fundamentals", "{s} for Beginners",
                 "{s} Crash Course", "First Steps in {s}", "{s}: A Gentle Start"],
    "intermediate": ["Practical {s}", "{s} in Practice", "Hands-on {s} with {t}",
                     "{s} Bootcamp", "{s} for Working Engineers", "Applied {s}",
                     "{s}: From Zero to Production", "The {s} Workshop"],
    "advanced": ["Advanced {s}", "{s} Masterclass", "{s}: Deep Dive", "Mastering {s}",
                 "{s} at Scale", "Expert {s}"],
}

COURSE_OPEN = {
    "beginner": [
        "A friendly starting point in {sl} for {aud}.",
        "No prior experience needed: this course walks {aud} through {sl} step by step.",
        "Built for {aud}, this beginner course demystifies {sl} without drowning you in jargon.",
        "Start from scratch and leave with a solid grounding in {sl}.",
    ],
    "intermediate": [
        "A practical, project-driven course in {sl} for {aud}.",
        "Go beyond the basics of {sl} with realistic exercises aimed at {aud}.",
        "This course turns a working knowledge of {sl} into confident, everyday practice.",
        "Designed for {aud}, it focuses on the parts of {sl} you will actually use.",
    ],
    "advanced": [
        "An in-depth treatment of {sl} for {aud} who already know the basics.",
        "A demanding, research-informed course that takes {sl} to production depth.",
        "For experienced practitioners: the hard parts of {sl}, explained carefully.",
        "Sharpen your judgement on {sl} with case studies drawn from real systems.",
    ],
}
COURSE_LEARN = [
    "You will cover {l}.",
    "Topics include {l}.",
    "Along the way you learn {l}.",
    "The modules move through {l}.",
    "Expect to work through {l}.",
]
COURSE_PROJECT = [
    "The capstone is {p}.",
    "Everything comes together in a final project: {p}.",
    "You finish by building {p}.",
    "Weekly exercises build towards {p}.",
]
COURSE_FORMAT = {
    "self-paced": ["About {h} hours of self-paced video lessons with quizzes and downloadable notes.",
                   "Roughly {h} hours of short videos you can take at your own pace.",
                   "Self-paced: around {h} hours of lessons, readings and auto-graded exercises."],
    "cohort": ["A live cohort of about {h} hours with weekly sessions and peer review.",
               "Taught live over about {h} hours, with office hours and a small-group community.",
               "Around {h} hours of cohort-based teaching, including live code reviews."],
    "workshop": ["A compact workshop of about {h} hours, heavy on exercises.",
                 "An intensive {h}-hour workshop you can finish in a few evenings."],
}


def make_courses(rng, n):
    items = []
    titles = Unique()
    used = set()
    levels = ["beginner", "intermediate", "advanced"]
    k = 0
    while len(items) < n:
        subj, tags, learn, projects, aud, tool = SUBJECTS[k % len(SUBJECTS)]
        k += 1
        if subj == "Distributed Systems" and not any(i["title"] == "Distributed Systems Course"
                                                     for i in items):
            level, title = "intermediate", "Distributed Systems Course"
            titles.seen.add(title)
        else:
            level = rng.choices(levels, weights=[4, 4, 2])[0]
            forms = [f for f in TITLE_FORMS[level] if "{t}" not in f or tool[0].isupper()]
            title = titles.take(lambda: rng.choice(forms).format(s=subj, t=tool))
        fmt = rng.choices(["self-paced", "cohort", "workshop"], weights=[6, 3, 1])[0]
        if title == "Distributed Systems Course":
            fmt = "self-paced"
        base = {"beginner": 8, "intermediate": 18, "advanced": 28}[level]
        hours = base + rng.randrange(0, base + 6)
        if fmt == "workshop":
            hours = max(4, hours // 3)
        if rng.random() < 0.15:
            price = 0.0
        else:
            price = float(rng.choice([19, 29, 39, 49, 59, 79, 99, 129, 149, 199, 249]))
            if fmt == "cohort":
                price = float(price * 2 + 100)
        rating = round(min(5.0, max(3.1, rng.gauss(4.35, 0.3))), 1)
        provider = rng.choice(SCHOOLS)
        sl = SUBJECT_IN_TEXT.get(subj, subj.lower())
        learn_pick = rng.sample(learn, 3 if len(learn) > 3 else 2)
        parts = [
            pick(rng, COURSE_OPEN[level], used).format(sl=sl, aud=aud),
            rng.choice(COURSE_LEARN).format(l=join_list(learn_pick)),
            rng.choice(COURSE_PROJECT).format(p=rng.choice(projects)),
            rng.choice(COURSE_FORMAT[fmt]).format(h=hours),
        ]
        if price == 0:
            parts.append(rng.choice(["Free to audit.", "Free, with an optional paid certificate.",
                                     "Offered free of charge."]))
        desc = " ".join(parts)
        ctags = list(tags)
        if level == "beginner":
            ctags.append("beginner-friendly")
        if fmt == "cohort":
            ctags.append("live")
        tag_extra = rng.random()
        if tag_extra < 0.2 and "career" not in ctags:
            ctags.append("career")
        items.append({
            "item_id": "course-%04d" % (len(items) + 1),
            "title": title,
            "description": desc,
            "category": "education",
            "provider": provider,
            "tags": ctags,
            "available": rng.random() > 0.03,
            "created": created_time(rng),
            "attributes": {
                "level": level,
                "duration_hours": hours,
                "price": price,
                "rating": rating,
                "format": fmt,
                "certificate": fmt != "workshop" and rng.random() < 0.8,
            },
        })
    return items


# ------------------------------------------------------------------------------- laptops

BRANDS = ["Vantix", "Nimbus", "Korrin", "Lumera", "Strato", "Helixa", "Quillon", "Orbit"]
LINES = {
    "gaming": ["Blade", "Fury", "Raptor", "Apex", "Vortex", "Titan"],
    "ultraportable": ["Air", "Feather", "Slate", "Glide", "Wisp", "Aero"],
    "workstation": ["Forge", "Atlas", "Bastion", "Summit"],
    "creator": ["Studio", "Canvas", "Prism", "Muse"],
    "budget": ["Go", "Essential", "Basic", "Lite", "Edu"],
    "ai": ["Neuron", "Tensor", "Cortex"],
}
GPUS = {
    "gaming": [("RTX 4060", 8), ("RTX 4070", 8), ("RTX 4080", 12), ("RTX 4090", 16), ("RX 7600S", 8)],
    "workstation": [("RTX 2000 Ada", 8), ("RTX 3500 Ada", 12), ("RTX 5000 Ada", 16)],
    "creator": [("RTX 4050", 6), ("RTX 4060", 8), ("RTX 4070", 8)],
    "ai": [("RTX 4080", 12), ("RTX 4090", 16), ("RTX 5000 Ada", 16)],
}
LAPTOP_OPEN = {
    "gaming": ["Built for high frame rates, the {t} pairs an {gpu} ({vram} GB) with {ram} GB of RAM.",
               "The {t} is a no-compromise gaming machine: {gpu} graphics with {vram} GB of video memory and {ram} GB of RAM.",
               "Esports nights and open-world marathons are what the {t} is for, with an {gpu} and {ram} GB of memory.",
               "With an {gpu} and a {scr}-inch high-refresh display, the {t} runs current games at high settings."],
    "ultraportable": ["At just {w} kg, the {t} disappears into a bag and lasts up to {bat} hours on a charge.",
                      "The {t} is a thin-and-light companion for travel: {w} kg, {bat} hours of battery and a crisp {scr}-inch screen.",
                      "Made for people who work from anywhere, the {t} weighs {w} kg and runs up to {bat} hours unplugged.",
                      "A quiet, fanless-feeling ultraportable, the {t} combines {ram} GB of RAM with all-day battery life of up to {bat} hours."],
    "workstation": ["The {t} is a mobile workstation with {gpu} professional graphics ({vram} GB) and {ram} GB of RAM.",
                    "Certified-class graphics ({gpu}, {vram} GB) and {ram} GB of memory make the {t} a desk-side workstation you can carry.",
                    "For CAD, simulation and large datasets, the {t} brings an {gpu} and {ram} GB of RAM in a {scr}-inch chassis."],
    "creator": ["The {t} is tuned for photo and video work, with a colour-accurate {scr}-inch display and an {gpu}.",
                "Editors and illustrators get a calibrated {scr}-inch screen, an {gpu} and {ram} GB of RAM in the {t}.",
                "A creator laptop that balances power and portability: {gpu} graphics, {ram} GB of RAM and {w} kg."],
    "budget": ["The {t} covers the everyday basics - browsing, documents, video calls - at an honest price.",
               "An affordable {scr}-inch laptop for school and home, the {t} keeps things simple with {ram} GB of RAM.",
               "The {t} is a sensible first laptop: light on the wallet, with {bat} hours of battery."],
    "ai": ["The {t} is built for local AI work: an {gpu} with {vram} GB of VRAM and {ram} GB of system memory.",
           "Fine-tune models and run large language models locally on the {t}, with {vram} GB of VRAM on its {gpu}.",
           "With {ram} GB of RAM and an {gpu} ({vram} GB), the {t} handles training runs that would stall thinner machines."],
}
LAPTOP_MID = {
    "gaming": ["A vapour-chamber cooler keeps clocks steady under long sessions.",
               "Per-key RGB lighting and a full-size keyboard with a number pad round it out.",
               "Expect around {bat} hours away from the wall, less while gaming.",
               "The {stor} GB SSD leaves room for a large game library."],
    "ultraportable": ["The aluminium chassis is barely thicker than a notebook.",
                      "Two USB-C ports charge it and drive an external display.",
                      "Integrated graphics keep it cool and quiet; this is not a gaming machine.",
                      "A backlit keyboard and a large glass touchpad make it pleasant to type on."],
    "workstation": ["Error-correcting memory support and a tool-less service panel suit IT departments.",
                    "It weighs {w} kg, so it is portable rather than light.",
                    "A {stor} GB SSD and plenty of ports make it a good docked machine."],
    "creator": ["The {stor} GB SSD copes with large raw photo libraries.",
                "An SD card reader sits next to two Thunderbolt-class ports.",
                "Battery life of around {bat} hours covers a day of light editing."],
    "budget": ["Integrated graphics handle video and light photo edits.",
               "It weighs {w} kg and has a {stor} GB SSD.",
               "The plastic shell is sturdy enough for a school bag."],
    "ai": ["Cooling is sized for sustained GPU load rather than short bursts.",
           "Its {stor} GB SSD holds several model checkpoints at once.",
           "Battery life is modest ({bat} hours); plan on working near a socket."],
}


def make_laptops(rng, n):
    items = []
    titles = Unique()
    used = set()
    archetypes = ["gaming", "ultraportable", "workstation", "creator", "budget", "ai"]
    weights = [6, 5, 2, 3, 4, 2]
    while len(items) < n:
        a = rng.choices(archetypes, weights=weights)[0]
        brand = rng.choice(BRANDS)
        line = rng.choice(LINES[a])
        scr = {"gaming": [15.6, 16.0, 17.3], "ultraportable": [13.3, 13.6, 14.0],
               "workstation": [15.6, 16.0, 17.3], "creator": [14.5, 16.0], "budget": [14.0, 15.6],
               "ai": [16.0, 17.3]}[a]
        screen = rng.choice(scr)
        size_tag = str(int(round(screen)))
        suffix = rng.choice(["", "", " Pro", " X", " Plus", " S", " Max"])
        title = titles.take(lambda: "%s %s %s%s%s" % (
            brand, line, size_tag, suffix, rng.choice(["", "", " (2024)", " (2025)", " Gen 2"])))
        if a in GPUS:
            gpu, vram = rng.choice(GPUS[a])
        else:
            gpu, vram = "integrated", 0
        ram = {"gaming": [16, 32], "ultraportable": [8, 16, 16, 32], "workstation": [32, 64],
               "creator": [16, 32], "budget": [8, 8, 16], "ai": [32, 64, 64]}[a]
        ram = rng.choice(ram)
        stor = rng.choice({"budget": [256, 512]}.get(a, [512, 1024, 1024, 2048]))
        bat = {"gaming": (3, 7), "ultraportable": (12, 22), "workstation": (5, 9),
               "creator": (7, 12), "budget": (6, 10), "ai": (3, 6)}[a]
        bat = rng.randrange(bat[0], bat[1] + 1)
        w = {"gaming": (2.1, 3.2), "ultraportable": (0.9, 1.35), "workstation": (2.0, 2.9),
             "creator": (1.5, 2.1), "budget": (1.5, 2.0), "ai": (2.3, 3.3)}[a]
        w = round(rng.uniform(*w), 2)
        price = {"gaming": (1100, 3600), "ultraportable": (700, 1900), "workstation": (2200, 4800),
                 "creator": (1300, 2800), "budget": (330, 650), "ai": (2800, 5200)}[a]
        price = rng.randrange(price[0], price[1]) // 10 * 10 - 1
        refurb = rng.random() < 0.08
        if refurb:
            price = int(price * 0.75) // 10 * 10 - 1
        rating = round(min(5.0, max(2.9, rng.gauss(4.2, 0.35))), 1)
        available = rng.random() > 0.13
        tags = [a]
        if a in ("gaming", "ai", "workstation", "creator") and vram >= 8:
            tags.append("dedicated-gpu")
        if a == "ai" or (a == "workstation" and vram >= 12) or (a == "gaming" and vram >= 16):
            if "ai" not in tags:
                tags.append("ai")
        if bat >= 12:
            tags.append("long-battery")
        if w < 1.4:
            tags.append("lightweight")
        if a in ("budget", "ultraportable") and price < 900:
            tags.append("student")
        if a == "creator" or (a == "ultraportable" and rng.random() < 0.3):
            tags.append("oled")
        if a in ("ultraportable", "budget") and rng.random() < 0.25:
            tags.append("2-in-1")
        if price < 700 and "budget" not in tags:
            tags.append("budget")
        if refurb:
            tags.append("refurbished")
        fill = dict(t="%s" % title, gpu=gpu, vram=vram, ram=ram, scr=("%g" % screen), w=w,
                    bat=bat, stor=stor)
        parts = [pick(rng, LAPTOP_OPEN[a], used).format(**fill)]
        mids = rng.sample(LAPTOP_MID[a], 2)
        parts += [m.format(**fill) for m in mids]
        if refurb:
            parts.append(rng.choice(["Refurbished and tested, with a one-year warranty.",
                                     "A certified refurbished unit: inspected, cleaned and re-boxed."]))
        if not available:
            parts.append("Currently out of stock.")
        items.append({
            "item_id": "laptop-%04d" % (len(items) + 1),
            "title": title,
            "description": " ".join(parts),
            "category": "laptop",
            "provider": brand,
            "tags": tags,
            "available": available,
            "created": created_time(rng),
            "attributes": {
                "price": float(price),
                "gpu": gpu,
                "vram_gb": vram,
                "ram_gb": ram,
                "storage_gb": stor,
                "battery_hours": bat,
                "weight_kg": w,
                "screen_in": screen,
                "rating": rating,
                "refurbished": refurb,
            },
        })
    return items


# ------------------------------------------------------------------------------- films

FILM_WHO = [
    "a retired lighthouse keeper", "two estranged sisters", "a rookie detective",
    "a disgraced chess prodigy", "a widowed beekeeper", "an ambitious young chef",
    "a stranded cargo pilot", "a small-town radio host", "a teenage inventor",
    "a burned-out session musician", "an ageing stage magician", "a marine biologist",
    "a night-shift nurse", "a reluctant heir", "a translator for a touring orchestra",
    "a forger with a conscience", "a grieving cartographer", "a substitute teacher",
    "a former boxing champion", "an undocumented construction worker", "a museum night guard",
    "a pair of rival food-truck owners", "a twelve-year-old amateur astronomer",
    "a mountain rescue volunteer", "a jaded wedding photographer", "a courier on her last shift",
]
FILM_WHERE = [
    "in a fogbound fishing village", "aboard a generation ship drifting between stars",
    "in 1970s Marseille", "on the last night of a failing circus", "in a near-future Lagos",
    "across the salt flats of the high desert", "in a snowed-in mountain hotel",
    "in the back streets of Osaka", "on a river barge crossing three countries",
    "in a Berlin tower block", "on a remote Arctic research station", "in a crumbling Lisbon palace",
    "during a city-wide blackout", "in a sleepy town on the Canadian prairie",
    "at a boarding school in the Scottish Highlands", "in the flooded suburbs of a drowned city",
    "in a Mumbai film studio", "on a cargo ship bound for Santos",
]
FILM_WHAT = {
    "thriller": ["finds a ledger that powerful people want buried",
                 "receives a call from a man who died ten years ago",
                 "realises the stranger next door is watching every move",
                 "becomes the only witness to a crime no one believes happened"],
    "sci-fi": ["intercepts a signal that seems to come from the future",
               "wakes from cryosleep decades too early",
               "discovers the town repeats the same Tuesday forever",
               "builds a machine that can hear the thoughts of plants"],
    "horror": ["hears scratching inside walls that should be solid",
               "inherits a house whose rooms rearrange themselves at night",
               "joins an expedition that returns one member short",
               "finds a videotape recorded the day after tomorrow"],
    "comedy": ["accidentally books two weddings on the same weekend",
               "is mistaken for a famous spy at a dentists' convention",
               "has to win a baking contest to save the family bakery",
               "agrees to fake an engagement for one very long holiday"],
    "romance": ["keeps missing the same stranger at a railway station",
                "falls for the rival architect bidding on the same bridge",
                "swaps letters with someone who seems to live in another decade",
                "teaches dance lessons to a widower who cannot count to three"],
    "drama": ["returns home to care for a father who no longer recognises them",
              "fights to keep a neighbourhood cinema from closing",
              "confronts a family secret at a reunion that was meant to be the last",
              "rebuilds a life one odd job at a time after prison"],
    "animation": ["sets out with a clockwork fox to find the child who built it",
                  "befriends a cloud that is too shy to rain",
                  "leads a band of lost toys across a busy city"],
    "action": ["must get a witness across a city in lockdown before dawn",
               "takes on a private army to rescue a kidnapped crew",
               "races a stolen train through the mountains"],
    "crime": ["plans one last heist on a museum that has never been robbed",
              "goes undercover inside a family-run smuggling ring",
              "cleans up after a bank robbery that went wrong in every possible way"],
    "fantasy": ["inherits a map that redraws itself every night",
                "bargains with a river spirit to bring back a drowned village",
                "is chosen to carry a lantern that keeps the winter away"],
    "mystery": ["investigates the disappearance of an entire string quartet",
                "tries to solve a murder at a dinner party where every guest lies",
                "follows clues hidden in a dead author's unfinished novel"],
    "war": ["guides a column of refugees through occupied hills",
            "holds a bridge with a handful of exhausted soldiers",
            "smuggles messages across a front line in a travelling theatre"],
    "musical": ["stages a musical in a shipyard about to close",
                "forms a choir with the residents of a care home",
                "tours the country in a van with a band that cannot stand each other"],
}
FILM_TONE = {
    "thriller": ["Tense, taut and unexpectedly tender.", "A slow-burn thriller that never lets go.",
                 "Paranoid, sharp and impeccably paced."],
    "sci-fi": ["Cerebral science fiction with a warm heart.", "Big ideas on a modest budget, beautifully realised.",
               "A haunting, quietly ambitious piece of science fiction."],
    "horror": ["Genuinely frightening, with dread that builds scene by scene.",
               "An atmospheric chiller that prefers shadows to shocks.", "Not for the faint-hearted."],
    "comedy": ["Warm, quick-witted and very funny.", "A crowd-pleasing comedy with a big heart.",
               "Silly in the best way, with a cast clearly having fun."],
    "romance": ["A bittersweet love story told with restraint.", "Swoon-worthy and gently funny.",
                "Romantic without being saccharine."],
    "drama": ["Understated, humane and beautifully acted.", "A quiet drama that lands with real force.",
              "Patient storytelling rewarded by a devastating final act."],
    "animation": ["Hand-drawn animation full of small wonders.", "Gorgeous to look at and gentle enough for young viewers.",
                  "A family adventure with jokes for every age."],
    "action": ["Relentless, practical stunt work from start to finish.", "Lean, loud and thrilling.",
               "Action choreography that keeps topping itself."],
    "crime": ["A stylish crime story with a sly sense of humour.", "Gritty, clever and morally tangled.",
              "A twisty crime caper that rewards close attention."],
    "fantasy": ["A lush fairy tale for grown-ups.", "Imaginative world-building with a folk-tale soul.",
                "Wondrous, strange and moving."],
    "mystery": ["A puzzle-box mystery with a satisfying solution.", "Clever, cosy and full of red herrings.",
                "An elegant whodunit."],
    "war": ["A harrowing, humane war film.", "Unflinching, intimate and hard to forget.",
            "War seen at ground level, with no glory in it."],
    "musical": ["Joyful songs and heartfelt performances.", "A musical that will have you humming for days.",
                "Exuberant, funny and surprisingly moving."],
}
DOC_SUBJECTS = [
    ("the last family of salt harvesters on the Atlantic coast", "five years"),
    ("a youth orchestra preparing for its first international tour", "one season"),
    ("the engineers racing to save a sinking bell tower", "three years"),
    ("a village that builds its own internet", "two years"),
    ("deep-sea researchers mapping an undersea volcano", "eighteen months"),
    ("the street chefs of a night market", "a single year"),
    ("a women's football team in a league that nearly folded", "two seasons"),
    ("beekeepers fighting a collapse in their hives", "four summers"),
    ("the restorers of a burned film archive", "three years"),
    ("long-distance truck drivers crossing a continent", "six months"),
]
DIRECTORS = [
    "Ines Marchetti", "Kofi Mensah", "Yuki Tanabe", "Sofia Brandt", "Rahul Deshpande",
    "Camille Roux", "Mateus Oliveira", "Hannah Kowalczyk", "Oskar Lindgren", "Amelia Hart",
    "Diego Salas", "Nadia Haddad", "Jonas Weber", "Mei Chen", "Callum Reid", "Ana Petrovic",
    "Tariq Bell", "Leonie Fischer", "Arjun Mehta", "Beatriz Costa",
]
LANGS = ["English"] * 6 + ["French", "Japanese", "Korean", "Spanish", "Hindi", "German", "Portuguese"]
TITLE_ADJ = ["Silent", "Glass", "Midnight", "Hollow", "Crimson", "Paper", "Distant", "Burning",
             "Quiet", "Salt", "Iron", "Velvet", "Winter", "Last", "Wild", "Golden", "Broken",
             "Northern", "Invisible", "Small", "Electric", "Lonely", "Borrowed", "Sleeping"]
TITLE_NOUN = ["Harbor", "Orchard", "Cartographer", "Lantern", "Frequency", "Garden", "Meridian",
              "Tide", "Choir", "Archive", "Horizon", "Engine", "Carnival", "Station", "Letters",
              "Summer", "Signal", "Threshold", "Kingdom", "Orbit", "Shore", "Parade", "Hours",
              "Weather", "Ferry", "Bridge", "Monsoon", "Atlas"]
TITLE_FORM = ["The {a} {n}", "{a} {n}", "The {n}", "{n} of {a} Things", "A {a} {n}",
              "After the {n}", "Beneath the {a} {n}", "{n}s", "The {n} Keeper", "Notes from the {n}"]
GENRES = ["drama", "comedy", "thriller", "sci-fi", "horror", "romance", "animation",
          "documentary", "action", "crime", "fantasy", "mystery", "war", "musical"]
GENRE_W = [10, 8, 7, 7, 5, 5, 4, 4, 6, 5, 4, 4, 2, 2]
# which genres may be paired with a primary genre
GENRE_PAIR = {
    "drama": ["romance", "crime", "war", "musical", "mystery"],
    "comedy": ["romance", "action", "crime", "musical", "fantasy"],
    "thriller": ["crime", "mystery", "sci-fi", "horror", "action"],
    "sci-fi": ["thriller", "action", "drama", "horror"],
    "horror": ["thriller", "mystery", "fantasy"],
    "romance": ["drama", "comedy", "musical"],
    "animation": ["family", "fantasy", "comedy"],
    "documentary": ["music", "nature", "sports", "history"],
    "action": ["thriller", "sci-fi", "crime"],
    "crime": ["thriller", "drama", "comedy"],
    "fantasy": ["family", "drama", "action"],
    "mystery": ["crime", "comedy", "thriller"],
    "war": ["drama", "history"],
    "musical": ["comedy", "romance", "music"],
}
RESTRICT = [["US", "CA"], ["GB", "DE", "FR"], ["JP"], ["IN"], ["BR", "US"], ["FR", "DE"]]


def min_age_for(genres, rng):
    g = genres[0]
    if g == "horror":
        return rng.choice([16, 18, 18])
    if g in ("war", "crime", "thriller"):
        return rng.choice([12, 16, 16, 18])
    if g in ("action", "sci-fi", "mystery"):
        return rng.choice([0, 12, 12, 16])
    if g in ("animation",) or "family" in genres:
        return 0
    return rng.choice([0, 0, 12, 12, 16])


def make_films(rng, n):
    items = []
    titles = Unique()
    used_tone = set()
    used_what = set()
    docs = list(DOC_SUBJECTS)
    rng.shuffle(docs)
    while len(items) < n:
        g = rng.choices(GENRES, weights=GENRE_W)[0]
        if g == "documentary" and not docs:
            continue
        genres = [g]
        if rng.random() < 0.6:
            genres.append(rng.choice(GENRE_PAIR[g]))
        title = titles.take(lambda: a_an(rng.choice(TITLE_FORM).format(
            a=rng.choice(TITLE_ADJ), n=rng.choice(TITLE_NOUN))))
        year = rng.choices(range(1978, 2026), weights=[1] * 30 + [3] * 18)[0]
        runtime = rng.randrange(78, 176) if g not in ("animation", "documentary") \
            else rng.randrange(75, 112)
        rating = round(min(5.0, max(1.8, rng.gauss(3.7, 0.55))), 1)
        director = rng.choice(DIRECTORS)
        lang = rng.choice(LANGS)
        age = min_age_for(genres, rng)
        if g == "documentary":
            subj, span = docs.pop()
            desc = "%s documentary following %s over %s. %s" % (
                rng.choice(["An intimate", "A patient, observational", "A stirring", "A clear-eyed"]),
                subj, span, rng.choice(["Directed by %s." % director,
                                        "%s lets the people speak for themselves." % director,
                                        "Filmed by %s with a tiny crew." % director]))
        else:
            what = pick(rng, FILM_WHAT[g], used_what)
            who = rng.choice(FILM_WHO)
            where = rng.choice(FILM_WHERE)
            tone = pick(rng, FILM_TONE[g], used_tone)
            form = rng.randrange(3)
            if form == 0:
                desc = "%s %s %s. %s" % (cap(who), where, what, tone)
            elif form == 1:
                desc = "%s, %s %s. %s Directed by %s." % (cap(where), who, what, tone, director)
            else:
                desc = "When %s %s %s, nothing stays the same. %s" % (who, where, what, tone)
        desc += " %d minutes." % runtime
        if lang != "English":
            desc += " In %s with subtitles." % lang
        if age >= 16:
            desc += rng.choice([" Rated %d+." % age, " For viewers aged %d and over." % age])
        regions = rng.choice(RESTRICT) if rng.random() < 0.15 else None
        item = {
            "item_id": "film-%04d" % (len(items) + 1),
            "title": title,
            "description": desc,
            "category": "film",
            "provider": rng.choice(["Lanternfish Pictures", "Northlight Films", "Eastgate Studios",
                                    "Paper Moon Features", "Tidewater Releasing"]),
            "tags": genres,
            "available": rng.random() > 0.04,
            "min_age": age,
            "created": created_time(rng),
            "attributes": {
                "year": year,
                "runtime_min": runtime,
                "rating": rating,
                "director": director,
                "language": lang,
            },
        }
        if regions:
            item["regions"] = regions
        items.append(item)
    return items


# ------------------------------------------------------------------------------- restaurants

CITIES = [("New York", "US"), ("Chicago", "US"), ("Austin", "US"), ("Toronto", "CA"),
          ("London", "GB"), ("Manchester", "GB"), ("Berlin", "DE"), ("Paris", "FR"),
          ("Lyon", "FR"), ("Mumbai", "IN"), ("Bengaluru", "IN"), ("Tokyo", "JP"),
          ("Osaka", "JP"), ("Sao Paulo", "BR")]
CUISINES = {
    "italian": (["Trattoria {x}", "Osteria {x}", "{x} Pasta Bar"],
                ["Lucciola", "Nonna Pia", "del Ponte", "Fiorella", "Sette Lune", "Cavallino"],
                ["hand-rolled pasta", "wood-fired pizza", "slow-cooked ragu", "tiramisu made every morning"]),
    "japanese": (["{x}", "{x} Izakaya", "Sushi {x}"],
                 ["Kaede", "Sakura Alley", "Hoshi", "Tsubame", "Mori no Ie", "Kumo"],
                 ["omakase sushi", "charcoal-grilled yakitori", "rich tonkotsu ramen", "seasonal small plates"]),
    "mexican": (["{x} Taqueria", "Cantina {x}", "{x} Cocina"],
                ["La Palma", "El Colibri", "Dos Lunas", "Maiz Azul", "Solecito"],
                ["tacos al pastor", "hand-pressed tortillas", "mole from a family recipe", "mezcal cocktails"]),
    "indian": (["{x}", "{x} Kitchen", "House of {x}"],
               ["Saffron Lane", "Tamarind", "Chaiwala", "Masala Court", "Neem Tree"],
               ["tandoori breads", "slow-cooked dal", "Kerala fish curry", "street-style chaat"]),
    "thai": (["{x} Thai", "Baan {x}", "{x} Noodle House"],
             ["Lotus", "Sabai", "Mango Tree", "Khao", "Siam Garden"],
             ["green curry", "papaya salad pounded to order", "boat noodles", "crispy pork belly"]),
    "vegan": (["{x}", "{x} Plant Kitchen", "The {x}"],
              ["Green Fork", "Sprout & Stone", "Fig Leaf", "Root Cellar", "Clover"],
              ["seasonal vegetable plates", "cashew cheeses", "mushroom burgers", "grain bowls"]),
    "bbq": (["{x} Smokehouse", "{x} BBQ", "Pit & {x}"],
            ["Hickory", "Brick Oven", "Ember", "Copper Kettle", "Red Oak"],
            ["brisket smoked for fourteen hours", "pulled pork", "burnt ends", "cornbread"]),
    "seafood": (["{x} Oyster Bar", "The {x}", "{x} Fish House"],
                ["Anchor", "Driftwood", "Blue Mussel", "Salt & Line", "Harbour Light"],
                ["oysters on ice", "grilled catch of the day", "fish and chips", "seafood stew"]),
    "cafe": (["{x} Cafe", "{x} Coffee", "The {x}"],
             ["Morning Glory", "Little Sparrow", "Paper Crane", "Slow Pour", "Teacup"],
             ["single-origin pour-overs", "cardamom buns", "all-day breakfast", "sourdough toast"]),
    "french": (["Bistro {x}", "Chez {x}", "Brasserie {x}"],
               ["Margaux", "Lumiere", "du Coin", "Violette", "Papillon"],
               ["steak frites", "onion soup", "duck confit", "a short list of natural wines"]),
}
CUISINE_IN_TEXT = {"italian": "Italian", "japanese": "Japanese", "mexican": "Mexican",
                   "indian": "Indian", "thai": "Thai", "bbq": "barbecue", "french": "French"}
VIBES = ["in a cosy dining room with a dozen tables", "at a buzzing counter facing the open kitchen",
         "in a leafy courtyard that fills up on summer evenings",
         "in a relaxed room that works for families", "in candle-lit booths made for date night",
         "at long shared tables with a loud playlist", "in a minimalist room overlooking the street"]


def make_restaurants(rng, n):
    items = []
    titles = Unique()
    used = set()
    cuisines = sorted(CUISINES)
    while len(items) < n:
        c = rng.choice(cuisines)
        forms, names, dishes = CUISINES[c]
        city, country = rng.choice(CITIES)
        title = titles.take(lambda: rng.choice(forms).format(x=rng.choice(names)))
        price_level = rng.choices([1, 2, 3, 4], weights=[3, 5, 3, 1])[0]
        if c == "cafe":
            price_level = min(price_level, 2)
        rating = round(min(5.0, max(2.8, rng.gauss(4.1, 0.4))), 1)
        delivery = rng.random() < 0.55
        veg = c == "vegan" or rng.random() < 0.4
        tags = [c]
        if price_level >= 3:
            tags.append("fine-dining")
        elif price_level == 1:
            tags.append("cheap-eats")
        if delivery:
            tags.append("delivery")
        if veg:
            tags.append("vegetarian-friendly")
        vibe = pick(rng, VIBES, used)
        if "families" in vibe:
            tags.append("family-friendly")
        if "date night" in vibe:
            tags.append("date-night")
        late = rng.random() < 0.2
        if late:
            tags.append("late-night")
        ds = rng.sample(dishes, 2)
        cn = CUISINE_IN_TEXT.get(c, c)
        desc = "%s in %s known for %s and %s, served %s." % (
            rng.choice(["A neighbourhood %s spot" % cn, "An easy-going %s restaurant" % cn,
                        "A well-loved %s place" % cn, "A small %s kitchen" % cn]),
            city, ds[0], ds[1], vibe)
        extra = []
        if delivery:
            extra.append(rng.choice(["Delivers across the city.", "Also delivers.",
                                     "Takeaway and delivery available."]))
        if veg and c != "vegan":
            extra.append(rng.choice(["Plenty of vegetarian choices.",
                                     "Vegetarian dishes are marked on the menu."]))
        if late:
            extra.append("Open late.")
        if extra:
            desc += " " + " ".join(extra)
        items.append({
            "item_id": "restaurant-%04d" % (len(items) + 1),
            "title": title,
            "description": desc,
            "category": "restaurant",
            "tags": tags,
            "regions": [country],
            "available": rng.random() > 0.05,
            "created": created_time(rng),
            "attributes": {
                "cuisine": c,
                "price_level": price_level,
                "rating": rating,
                "city": city,
                "delivery": delivery,
            },
        })
    return items


def build():
    rng = random.Random(SEED)
    items = []
    items += make_courses(random.Random(rng.randrange(1 << 32)), 110)
    items += make_laptops(random.Random(rng.randrange(1 << 32)), 90)
    items += make_films(random.Random(rng.randrange(1 << 32)), 130)
    items += make_restaurants(random.Random(rng.randrange(1 << 32)), 70)
    return items


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("-o", "--output", default=os.path.join(here, "..", "data", "catalog.json"))
    args = ap.parse_args()
    items = build()
    text = "[\n" + ",\n".join(json.dumps(it, ensure_ascii=False) for it in items) + "\n]\n"
    with open(args.output, "w", encoding="utf-8") as f:
        f.write(text)
    print("wrote %d items (%d bytes) to %s" % (len(items), len(text.encode("utf-8")),
                                              os.path.normpath(args.output)), file=sys.stderr)


if __name__ == "__main__":
    main()
