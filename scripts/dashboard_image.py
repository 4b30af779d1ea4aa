#!/usr/bin/env python3
"""Draws docs/images/dora-dashboard.png: the DORA dashboard of template.yaml (its widgets, layout,
titles, metric math and tier lines, read from the template itself) over four weeks of synthetic
sample data. It is a rendering of the dashboard's layout, not a CloudWatch screenshot.

    python3 -m venv /tmp/dashvenv && /tmp/dashvenv/bin/pip install matplotlib
    /tmp/dashvenv/bin/python scripts/dashboard_image.py [output.png]

The sample is seeded, so the picture only changes when the dashboard does.
"""

from __future__ import annotations

import json
import random
import re
import sys
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DAY, HOUR = 86400, 3600
DAYS = 28
NAMESPACE = "DORA"


def dashboard_body() -> dict:
    """The DashboardBody of DoraDashboard, with the namespace and region substituted."""
    lines = (ROOT / "template.yaml").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "DashboardBody: !Sub |")
    depth = len(lines[start]) - len(lines[start].lstrip())
    body = []
    for line in lines[start + 1:]:
        if line.strip() and len(line) - len(line.lstrip()) <= depth:
            break
        body.append(line)
    text = "\n".join(body).replace("${DoraMetricsNamespace}", NAMESPACE).replace("${AWS::Region}", "us-east-1")
    return json.loads(text)


def sample() -> list[tuple[str, str, float, float]]:
    """(metric, pipeline, time in seconds from the start, value): four weeks of three pipelines."""
    rng = random.Random(20231005)
    profiles = {
        # pipeline: (deployments a day, lead time hours (median), failure rate, restore hours (median))
        "orders-api": (2.2, 5.0, 0.06, 0.8),
        "payments": (0.6, 40.0, 0.15, 12.0),
        "storefront": (0.25, 200.0, 0.3, 60.0),
    }
    points = []
    for pipeline, (per_day, lead_h, cfr, restore_h) in profiles.items():
        t = rng.expovariate(per_day) * DAY
        while t < DAYS * DAY:
            points.append(("DeploymentCount", pipeline, t, 1.0))
            for _ in range(rng.randint(1, 4)):
                points.append(("LeadTimeForChanges", pipeline, t, rng.lognormvariate(np.log(lead_h), 0.6) * HOUR))
            if rng.random() < cfr:
                points.append(("FailedDeploymentCount", pipeline, t, 1.0))
                opened = t + rng.uniform(0.1, 2.0) * HOUR
                restore = rng.lognormvariate(np.log(restore_h), 0.5) * HOUR
                if opened + restore < DAYS * DAY:
                    points.append(("TimeToRestore", pipeline, opened + restore, restore))
            t += rng.expovariate(per_day) * DAY
    return points


POINTS = sample()
PIPELINES = sorted({p[1] for p in POINTS})


def statistic(values: list[float], stat: str) -> float:
    if stat == "Sum":
        return float(sum(values)) if values else np.nan
    if stat.startswith("p"):
        return float(np.percentile(values, float(stat[1:]))) if values else np.nan
    raise ValueError(stat)


def series(metric: str, pipeline: str | None, stat: str, period: int) -> tuple[np.ndarray, np.ndarray]:
    """The datapoints CloudWatch would return: one value per period (NaN where there is none)."""
    buckets = int(np.ceil(DAYS * DAY / period))
    values = [[] for _ in range(buckets)]
    for name, pipe, t, value in POINTS:
        if name == metric and (pipeline is None or pipe == pipeline):
            values[int(t // period)].append(value)
    x = (np.arange(buckets) * period + period / 2) / DAY
    return x, np.array([statistic(v, stat) for v in values])


SEARCH = re.compile(r"SEARCH\('\{[^,}]+,Pipeline\} MetricName=\"(\w+)\"', '(\w+)', (\d+)\)(.*)")


def evaluate(props: dict) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """The visible lines of a graph widget: (label, x in days, y)."""
    period, default_stat = props["period"], props.get("stat", "Average")
    ids, lines = {}, []
    for row in props["metrics"]:
        options = next((v for v in row if isinstance(v, dict)), {})
        if "expression" in options:
            continue
        stat = options.get("stat", default_stat)
        x, y = series(row[1], None, stat, period)
        if "id" in options:
            ids[options["id"]] = y
        if options.get("visible", True):
            lines.append((options.get("label", f"{row[1]} {stat}"), x, y))
    for row in props["metrics"]:
        options = next((v for v in row if isinstance(v, dict)), {})
        expression = options.get("expression")
        if not expression:
            continue
        found = SEARCH.fullmatch(expression.strip())
        if found:
            metric, stat, search_period, rest = found.groups()
            scale = 1 / HOUR if rest.strip() == "/ 3600" else 1
            for pipeline in PIPELINES:
                x, y = series(metric, pipeline, stat, int(search_period))
                label = f"{options.get('label', '')} {pipeline}".strip()
                lines.append((label, x, y * scale))
            continue
        env = {"FILL": lambda a, v: np.nan_to_num(a, nan=v), **ids}
        with np.errstate(divide="ignore", invalid="ignore"):
            y = eval(expression, {"__builtins__": {}}, env)  # noqa: S307 - the template's own math
        x, _ = series("DeploymentCount", None, "Sum", period)
        lines.append((options.get("label", expression), x, np.where(np.isfinite(y), y, np.nan)))
    return lines


def plain(markdown: str) -> str:
    return re.sub(r"[*`#]", "", markdown).strip()


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs/images/dora-dashboard.png"
    body = dashboard_body()
    rows = max(w["y"] + w["height"] for w in body["widgets"])
    unit = 0.5  # inches per grid row
    height = rows * unit + 0.5
    fig = plt.figure(figsize=(16, height), dpi=110)
    fig.patch.set_facecolor("white")
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for widget in body["widgets"]:
        left = widget["x"] / 24 + 0.035
        width = widget["width"] / 24 - 0.05
        top = 1 - (widget["y"] * unit + 0.1) / height
        h = (widget["height"] * unit) / height
        above, below = 0.3 / height, 0.45 / height  # the title; the x axis
        props = widget["properties"]
        if widget["type"] == "text":
            ax = fig.add_axes([left - 0.03, top - h, width + 0.04, h])
            ax.axis("off")
            text = plain(props["markdown"])
            title, _, rest = text.partition("\n")
            ax.text(0, 0.95, title, fontsize=13, weight="bold", va="top")
            ax.text(0, 0.6, "\n".join(textwrap.wrap(rest, 190)), fontsize=8.2, va="top", color="#333")
            continue
        ax = fig.add_axes([left, top - h + below, width, h - above - below])
        ax.set_title(props["title"], fontsize=9.5, loc="left")
        for i, (label, x, y) in enumerate(evaluate(props)):
            marker = "o" if np.count_nonzero(np.isfinite(y)) < len(y) * 0.7 else None
            ax.plot(x, y, label=label, color=colors[i % len(colors)], marker=marker, markersize=3, linewidth=1.4)
        ymax = ax.get_ylim()[1]
        for i, line in enumerate(props.get("annotations", {}).get("horizontal", [])):
            ax.axhline(line["value"], color=line["color"], linestyle="--", linewidth=1)
            # Staggered, so lines close together keep readable labels.
            ax.text(0.2 + 8.0 * i, line["value"], " " + line["label"], color=line["color"], fontsize=6.5,
                    va="bottom", bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.7, "pad": 0.5})
        values = [ln["value"] for ln in props.get("annotations", {}).get("horizontal", [])]
        if values:
            ax.set_ylim(0, max(ymax, max(values) * 1.15))
        else:
            ax.set_ylim(bottom=0)
        ax.set_xlim(0, DAYS)
        ax.set_xlabel("day", fontsize=7.5)
        ax.set_ylabel(props.get("yAxis", {}).get("left", {}).get("label", ""), fontsize=7.5)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.25)
        ax.legend(fontsize=6.5, loc="upper right", ncol=2, framealpha=0.8)
    fig.text(0.5, 0.006,
             "A rendering of the Tollgate DORA dashboard's widgets (template.yaml) over 28 days of synthetic sample data "
             "for three pipelines; not a CloudWatch screenshot. Drawn by scripts/dashboard_image.py.",
             ha="center", fontsize=8, style="italic", color="#555")
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    print(f"wrote {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")


if __name__ == "__main__":
    main()
