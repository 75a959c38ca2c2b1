"""Quality and scale of the broad-listening analysis (``evaluations.listening.analysis``).

    .venv/bin/python -m benchmarks.opinion_analysis quality
    .venv/bin/python -m benchmarks.opinion_analysis feedback
    .venv/bin/python -m benchmarks.opinion_analysis scale --sizes 1000,10000,100000

``quality`` runs the analysis on the shipped labelled opinions and prints cluster purity (fine
and coarse, against ``topic``) and the initiative-link accuracy (top-1, top-3), then the same
with each general vectoriser choice switched off, to show what each one gains.
``feedback`` feeds 0-80 % of the set back as confirmed links (five folds) and prints the accuracy
on the rest.
``scale`` builds synthetic corpora from the same sentences (clauses of two opinions joined,
masking placeholders, repeated campaign texts), analyses each size in a fresh process and
prints the time per stage and the peak RSS. See ``benchmarks/README.md``.
"""

import argparse
import csv
import json
import random
import resource
import subprocess
import sys
import time
from collections import Counter, defaultdict
from dataclasses import replace
from pathlib import Path

from evaluations.listening.analysis import (
    AnalysisResult,
    InitiativeText,
    OpinionText,
    analyse,
)
from evaluations.listening.vectors import VectorSettings

ROOT = Path(__file__).resolve().parent.parent
PLAN_FILE = ROOT / "evaluations" / "data" / "akita-dx-progress-r6.json"
EVALUATION_SET = ROOT / "evaluations" / "data" / "opinions_evaluation_set.csv"
PLACEHOLDERS = ["［氏名］", "［電話番号］", "［メールアドレス］", "［住所］"]


def initiative_texts_from_plan_file(path: Path = PLAN_FILE) -> list[InitiativeText]:
    """One text per initiative: title, policy area, KPI names and its evaluations' texts.

    The id is the initiative's number in the plan; the service builds the same from its
    database with primary keys instead.
    """
    plan = json.loads(Path(path).read_text(encoding="utf-8"))
    texts = []
    for pillar in plan["pillars"]:
        for area in pillar["policy_areas"]:
            for initiative in area["initiatives"]:
                parts = [initiative["title"], area["name"]]
                parts += [kpi["name"] for kpi in initiative.get("kpis", [])]
                for evaluation in initiative.get("evaluations", []):
                    for field in ("plan_text", "progress_text", "next_actions"):
                        parts.append(evaluation.get(field) or "")
                text = "\n".join(part for part in parts if part)
                texts.append(InitiativeText(id=initiative["number"], text=text))
    return texts


def pillar_of_initiatives(path: Path = PLAN_FILE) -> dict[int, str]:
    """Initiative number -> its pillar: a coarse truth to judge the coarse clusters against."""
    plan = json.loads(Path(path).read_text(encoding="utf-8"))
    return {
        initiative["number"]: pillar["name"]
        for pillar in plan["pillars"]
        for area in pillar["policy_areas"]
        for initiative in area["initiatives"]
    }


def load_evaluation_set(path: Path = EVALUATION_SET) -> list[dict[str, str]]:
    with Path(path).open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def purity(labels: list[str], truths: list[str]) -> float:
    """Share of opinions whose cluster's most common true topic is their own."""
    by_cluster: dict[str, Counter] = defaultdict(Counter)
    for label, truth in zip(labels, truths, strict=True):
        by_cluster[label][truth] += 1
    return sum(c.most_common(1)[0][1] for c in by_cluster.values()) / max(1, len(labels))


def link_accuracy(result: AnalysisResult, truths: list[int], top: int) -> float:
    hits = sum(
        truth in [initiative for initiative, _ in placement.links[:top]]
        for placement, truth in zip(result.placements, truths, strict=True)
    )
    return hits / max(1, len(truths))


def quality_scores(
    rows: list[dict[str, str]],
    initiatives: list[InitiativeText],
    *,
    settings: VectorSettings | None = None,
    n_fine: int | None = None,
    n_coarse: int | None = None,
    seed: int = 0,
) -> dict[str, float]:
    opinions = [OpinionText(id=int(row["id"]), text=row["text"]) for row in rows]
    started = time.perf_counter()
    result = analyse(
        opinions,
        initiatives,
        seed=seed,
        n_fine=n_fine,
        n_coarse=n_coarse,
        vector_settings=settings,
    )
    seconds = time.perf_counter() - started
    topics = [row["topic"] for row in rows]
    numbers = [int(row["initiative_number"]) for row in rows]
    pillars = [pillar_of_initiatives()[number] for number in numbers]
    return {
        "fine": result.parameters["n_fine"],
        "coarse": result.parameters["n_coarse"],
        "purity_fine": purity([p.fine for p in result.placements], topics),
        "purity_coarse": purity([p.coarse for p in result.placements], topics),
        "purity_coarse_pillar": purity([p.coarse for p in result.placements], pillars),
        "top1": link_accuracy(result, numbers, 1),
        "top3": link_accuracy(result, numbers, 3),
        "seconds": seconds,
    }


VARIANTS = {
    "default": {},
    "no bigrams": {"bigrams": False},
    "linear tf": {"sublinear_tf": False},
    "no char n-grams": {"char_weight": 0.0},
    "char n-grams 0.3": {"char_weight": 0.3},
    "char n-grams 0.7": {"char_weight": 0.7},
    "50 components": {"components": 50},
    "200 components": {"components": 200},
    "no pseudo-feedback": {"feedback_share": 0.0},
    "pseudo-feedback 0.3": {"feedback_share": 0.3, "feedback_weight": 0.5},
    "pseudo-feedback 1.0": {"feedback_share": 1.0},
}


def run_quality(args: argparse.Namespace) -> None:
    rows = load_evaluation_set(args.set)
    initiatives = initiative_texts_from_plan_file(args.plan)
    topics = len({row["topic"] for row in rows})
    pillars = Counter(
        pillar_of_initiatives(args.plan)[int(row["initiative_number"])] for row in rows
    )
    print(
        f"{len(rows)} opinions, {topics} topics, {len(initiatives)} initiatives;"
        f" one cluster for all would have pillar purity {max(pillars.values()) / len(rows):.3f}"
    )
    header = f"{'variant':<22} {'fine':>4} {'coarse':>6} {'pur.fine':>8} {'pur.coarse':>10}"
    print(f"{header} {'pillar':>6} {'top-1':>6} {'top-3':>6} {'s':>5}")
    runs = [(name, replace(VectorSettings(), **change), None) for name, change in VARIANTS.items()]
    runs.append((f"default, fine={topics}", VectorSettings(), topics))
    for name, settings, n_fine in runs:
        s = quality_scores(rows, initiatives, settings=settings, n_fine=n_fine, seed=args.seed)
        print(
            f"{name:<22} {s['fine']:>4} {s['coarse']:>6} {s['purity_fine']:>8.3f}"
            f" {s['purity_coarse']:>10.3f} {s['purity_coarse_pillar']:>6.3f}"
            f" {s['top1']:>6.3f} {s['top3']:>6.3f} {s['seconds']:>5.1f}"
        )
    run_feedback(rows, initiatives, args.seed)


def with_confirmed_opinions(
    initiatives: list[InitiativeText], confirmed: list[dict[str, str]]
) -> list[InitiativeText]:
    """Each initiative's text followed by the opinions the secretariat confirmed as its own."""
    by_initiative: dict[int, list[str]] = defaultdict(list)
    for row in confirmed:
        by_initiative[int(row["initiative_number"])].append(row["text"])
    return [
        InitiativeText(id=i.id, text="\n".join([i.text, *by_initiative[i.id]])) for i in initiatives
    ]


def run_feedback(rows: list[dict[str, str]], initiatives: list[InitiativeText], seed: int) -> None:
    """Top-3 on the other opinions when 30 % of the set is confirmed and fed back."""
    confirmed = [row for row in rows if int(row["id"]) % 10 < 3]
    others = [row for row in rows if int(row["id"]) % 10 >= 3]
    enriched = with_confirmed_opinions(initiatives, confirmed)
    before = quality_scores(others, initiatives, seed=seed)
    after = quality_scores(others, enriched, seed=seed)
    print(
        f"{len(confirmed)} confirmed opinions added to their initiatives' texts; on the other"
        f" {len(others)}: top-1 {before['top1']:.3f} -> {after['top1']:.3f},"
        f" top-3 {before['top3']:.3f} -> {after['top3']:.3f}"
    )


FEEDBACK_SHARES = (0.0, 0.1, 0.3, 0.5, 0.8)
FOLDS = 5


def confirmed_folds(n: int, share: float, seed: int) -> list[set[int]]:
    """FOLDS sets of `share` * n row positions, each starting a fifth further along one shuffle
    of the rows (deterministic for the seed), so every row is left out of some of them."""
    order = list(range(n))
    random.Random(seed).shuffle(order)
    size = round(n * share)
    return [
        {order[(fold * n // FOLDS + step) % n] for step in range(size)} for fold in range(FOLDS)
    ]


def feedback_curve(
    rows: list[dict[str, str]],
    initiatives: list[InitiativeText],
    share: float,
    *,
    settings: VectorSettings | None = None,
    seed: int = 0,
) -> tuple[float, float]:
    """Mean top-1 and top-3 over the folds, on the opinions not confirmed, when the confirmed
    ones are appended to their initiative's text and all opinions are analysed (as a run does)."""
    opinions = [OpinionText(id=int(row["id"]), text=row["text"]) for row in rows]
    truths = [int(row["initiative_number"]) for row in rows]
    top1, top3 = [], []
    for confirmed in confirmed_folds(len(rows), share, seed):
        enriched = with_confirmed_opinions(initiatives, [rows[i] for i in sorted(confirmed)])
        result = analyse(opinions, enriched, seed=seed, vector_settings=settings)
        rest = [i for i in range(len(rows)) if i not in confirmed]
        hits = [
            [link for link, _ in result.placements[i].links].index(truths[i])
            if truths[i] in [link for link, _ in result.placements[i].links]
            else None
            for i in rest
        ]
        top1.append(sum(hit == 0 for hit in hits) / len(rest))
        top3.append(sum(hit is not None and hit < 3 for hit in hits) / len(rest))
    return sum(top1) / len(top1), sum(top3) / len(top3)


def run_feedback_curve(args: argparse.Namespace) -> None:
    rows = load_evaluation_set(args.set)
    initiatives = initiative_texts_from_plan_file(args.plan)
    methods = {
        "pseudo-feedback (default)": VectorSettings(),
        "no pseudo-feedback": VectorSettings(feedback_share=0.0),
    }
    print(f"{'confirmed':>9}  " + "  ".join(f"{name:>26}" for name in methods))
    for share in FEEDBACK_SHARES:
        cells = []
        for settings in methods.values():
            top1, top3 = feedback_curve(rows, initiatives, share, settings=settings, seed=args.seed)
            cells.append(f"{f'top-1 {top1:.3f} top-3 {top3:.3f}':>26}")
        print(f"{share:>9.0%}  " + "  ".join(cells), flush=True)


# --- scale ------------------------------------------------------------------------------


def _clauses(text: str) -> list[str]:
    parts = [part for part in text.replace("。", "。\n").replace("、", "、\n").split("\n") if part]
    return parts or [text]


def synthetic_opinions(rows: list[dict[str, str]], size: int, seed: int) -> list[OpinionText]:
    """`size` opinions from the set's sentences: clauses of two opinions joined, placeholders
    added, and one in ten a repeat of an earlier text (organised campaigns repeat a text)."""
    chooser = random.Random(seed)
    clauses = [_clauses(row["text"]) for row in rows]
    texts: list[str] = []
    for _ in range(size):
        if texts and chooser.random() < 0.1:
            texts.append(chooser.choice(texts))
            continue
        first, second = chooser.choice(clauses), chooser.choice(clauses)
        text = "".join(first[: chooser.randint(1, len(first))] + second[-1:])
        if chooser.random() < 0.2:
            text = f"{chooser.choice(PLACEHOLDERS)}です。{text}"
        texts.append(text)
    return [OpinionText(id=index + 1, text=text) for index, text in enumerate(texts)]


def run_one(args: argparse.Namespace) -> None:
    """One size, in this process: prints a JSON line with the stage times and peak RSS."""
    rows = load_evaluation_set(args.set)
    initiatives = initiative_texts_from_plan_file(args.plan)
    opinions = synthetic_opinions(rows, args.size, args.seed)
    baseline_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    ends: dict[str, float] = {}
    started = time.perf_counter()

    def progress(stage: str, done: int, total: int) -> None:
        if done == total:
            ends[stage] = time.perf_counter()

    result = analyse(opinions, initiatives, seed=args.seed, progress=progress)
    total = time.perf_counter() - started
    stages, previous = {}, started
    for stage, end in sorted(ends.items(), key=lambda item: item[1]):
        stages[stage], previous = end - previous, end
    report = {
        "size": args.size,
        "distinct_texts": len({opinion.text for opinion in opinions}),
        "seconds": total,
        "stages": stages,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rss_before_mb": baseline_kb / 1024,
        "parameters": {k: result.parameters[k] for k in ("n_fine", "n_coarse", "vocabulary")},
        "features": result.parameters["features"],
    }
    print(json.dumps(report))


def run_scale(args: argparse.Namespace) -> None:
    print(f"{'size':>7} {'total s':>8} {'peak MB':>8}  stages (s)")
    for size in [int(part) for part in args.sizes.split(",")]:
        command = [sys.executable, "-m", "benchmarks.opinion_analysis"]
        command += ["--seed", str(args.seed), "--set", str(args.set), "one", "--size", str(size)]
        output = subprocess.run(command, check=True, capture_output=True, text=True, cwd=ROOT)
        report = json.loads(output.stdout.strip().splitlines()[-1])
        stages = ", ".join(f"{name} {seconds:.1f}" for name, seconds in report["stages"].items())
        print(
            f"{size:>7} {report['seconds']:>8.1f} {report['peak_rss_mb']:>8.0f}  {stages}"
            f"  (before {report['rss_before_mb']:.0f} MB; {report['parameters']},"
            f" {report['features']} features, {report['distinct_texts']} distinct texts)",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", type=Path, default=EVALUATION_SET)
    parser.add_argument("--plan", type=Path, default=PLAN_FILE)
    parser.add_argument("--seed", type=int, default=0)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("quality")
    commands.add_parser("feedback")
    scale = commands.add_parser("scale")
    scale.add_argument("--sizes", default="1000,10000,100000")
    one = commands.add_parser("one")
    one.add_argument("--size", type=int, required=True)
    args = parser.parse_args()
    {"quality": run_quality, "feedback": run_feedback_curve, "scale": run_scale, "one": run_one}[
        args.command
    ](args)


if __name__ == "__main__":
    main()
