#!/usr/bin/env python3
"""Checks that `tdsl bench --plot` draws a legible roofline: renders the SVG in headless
Chromium at two sizes and fails when any two texts (titles, ticks, ceilings, point labels,
legend) overlap, a text leaves the picture, or a point's label covers another point.

    check_plot_labels.py TDSL CHROMIUM KERNELS.tdsl

(tests/lit/explain/roofline.tdsl runs it; it prints each problem and their count.)
"""
import json
import os
import subprocess
import sys
import tempfile

# Runs in the page: the rendered box of every <text> and <circle>, as JSON in the body.
PAGE = """<!doctype html><html><body style="margin:0">%s
<script>
const svg = document.querySelector('svg');
const view = svg.getBoundingClientRect();
const box = e => { const r = e.getBoundingClientRect();
                   return {x0: r.left, y0: r.top, x1: r.right, y1: r.bottom}; };
const texts = [...svg.querySelectorAll('text')].map(e => ({text: e.textContent, ...box(e)}));
const points = [...svg.querySelectorAll('circle')].map(box);
const out = document.createElement('pre');
out.id = 'boxes';
out.textContent = JSON.stringify({view: box(svg), texts, points});
document.body.appendChild(out);
</script></body></html>"""


def overlap(a, b, slack=0.5):
    return (a["x0"] + slack < b["x1"] and b["x0"] + slack < a["x1"] and
            a["y0"] + slack < b["y1"] and b["y0"] + slack < a["y1"])


def check(chromium, svg_text, size):
    with tempfile.TemporaryDirectory() as tmp:
        page = os.path.join(tmp, "plot.html")
        with open(page, "w") as f:
            f.write(PAGE % svg_text)
        dom = subprocess.run(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             f"--user-data-dir={tmp}/profile", "--dump-dom", "file://" + page],
            capture_output=True, text=True, timeout=120).stdout
    start = dom.find('<pre id="boxes">')
    if start < 0:
        return [f"{size}: Chromium rendered nothing"]
    body = dom[start + len('<pre id="boxes">'):dom.index("</pre>", start)]
    data = json.loads(body.replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")
                      .replace("&quot;", '"'))
    view, texts, points = data["view"], data["texts"], data["points"]
    problems = []
    for i, a in enumerate(texts):
        if a["x0"] < view["x0"] or a["x1"] > view["x1"] or a["y0"] < view["y0"] or \
                a["y1"] > view["y1"]:
            problems.append(f"{size}: '{a['text']}' leaves the picture")
        for b in texts[i + 1:]:
            if overlap(a, b):
                problems.append(f"{size}: '{a['text']}' overlaps '{b['text']}'")
        for p in points:
            if overlap(a, p, slack=1.0):
                problems.append(f"{size}: '{a['text']}' covers a point")
    if len(points) < 2:
        problems.append(f"{size}: {len(points)} points drawn")
    return problems


def main():
    tdsl, chromium, kernels = sys.argv[1:4]
    problems = []
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, TDSL_CACHE_DIR=os.path.join(tmp, "cache"))
        for size in ("800x560", "480x360"):
            svg = os.path.join(tmp, f"roofline-{size}.svg")
            subprocess.run([tdsl, "bench", kernels, "--shape", "N=64", "--threads", "1",
                            "--runs", "1", "--warmup", "0", "--plot", svg, "--plot-size", size],
                           check=True, env=env, stdout=subprocess.DEVNULL)
            with open(svg) as f:
                problems += check(chromium, f.read(), size)
    for p in problems:
        print(p)
    print(f"{len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
