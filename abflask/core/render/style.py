"""The CSS of what ``tables`` and ``charts`` draw, for pages that show them.

The job's report inlines it; the dashboard serves it as a stylesheet. Charts
sit in a grid of cards (two across at 1280 px, one on a phone). Tables have
fixed column shares, so the tables of one result line up and never push the
page sideways; below 640 px each row becomes a block of labelled lines, so
every number keeps its label and its variation in view.
"""

from __future__ import annotations

from abflask.core.render.svg import PHONE_FONT

PHONE = 640
"""Widths (CSS px) up to which tables stack their rows."""

CSS = f"""
.decision{{padding:.8rem 1rem;border-radius:6px;border-left:5px solid #d9dee7;
  background:#f4f6f9;margin:1rem 0}}
.decision p{{margin:0}}
.decision.ship{{border-color:#19703a;background:#e3f4e8}}
.decision.dont_ship,.decision.harmful{{border-color:#b3261e;background:#fbe7e5}}
.decision.unreliable{{border-color:#8a5a00;background:#fff3d6}}
.decision.keep_running{{border-color:#2456c7;background:#e8eefb}}
div.warn{{display:block;color:#5c3c00;background:#fff3d6;border-left:5px solid #8a5a00;
  border-radius:4px;padding:.7rem 1rem;margin:.75rem 0;font-weight:normal}}
p.note{{background:#e8eefb;padding:.5rem .8rem;border-radius:4px}}
.phase-line,.generated,p.hint{{color:#5b6475;font-size:.9rem;margin:.3rem 0}}
section.metric{{margin:1.6rem 0}}
section.metric :is(h2,h3){{font-size:1.15rem;margin:0 0 .5rem}}
section.metric :is(h2,h3) small{{color:#5b6475;font-weight:normal;font-size:.85rem}}
.table-box{{border:1px solid #d9dee7;border-radius:6px;overflow-x:auto}}
table.results{{border-collapse:collapse;width:100%;table-layout:fixed}}
table.results thead th:nth-child(1){{width:19%}}
table.results thead th:nth-child(2){{width:12%}}
table.results thead th:nth-child(3){{width:14%}}
table.results thead th:nth-child(4){{width:10%}}
table.results thead th:nth-child(5){{width:19%}}
table.results thead th:nth-child(6){{width:9%}}
table.results thead th:nth-child(7){{width:17%}}
table.results :is(th,td){{padding:.45rem .7rem;text-align:left;vertical-align:top;
  border-bottom:1px solid #d9dee7;white-space:normal;overflow-wrap:break-word}}
table.results thead th{{background:#f4f6f9;font-size:.85rem;color:#5b6475;
  font-weight:600}}
table.results .num{{text-align:right;font-variant-numeric:tabular-nums}}
table.results tr.control{{background:#fafbfc}}
table.results tbody tr:last-child>*{{border-bottom:0}}
table.results small{{color:#5b6475;font-weight:normal}}
table.results td small{{display:block;font-size:.8rem}}
.outcome{{display:inline-block;padding:.05rem .5rem;border-radius:999px;
  font-size:.82rem;font-weight:600;background:#f4f6f9;color:#5b6475}}
.outcome.better,.outcome.within_margin{{background:#e3f4e8;color:#19703a}}
.outcome.worse,.outcome.harmed{{background:#fbe7e5;color:#b3261e}}
p.verdict{{margin:.4rem 0 0}}
p.verdict::first-letter{{text-transform:uppercase}}
.charts{{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,24rem),1fr));
  gap:1rem;margin:1.6rem 0;align-items:start}}
figure.chart{{margin:0;border:1px solid #d9dee7;border-radius:6px;padding:.6rem;
  min-width:0}}
figure.chart figcaption{{font-size:.9rem;margin:0 0 .4rem}}
figure.chart svg{{display:block;width:100%;height:auto}}
.legend{{display:inline-flex;flex-wrap:wrap;gap:.1rem .8rem;margin-left:.3rem}}
.legend .key{{white-space:nowrap}}
.legend i{{display:inline-block;width:.8em;height:.8em;border-radius:2px;
  margin-right:.3em;vertical-align:-.05em}}
.clipped{{display:block;color:#5b6475}}
p.empty{{color:#5b6475}}
@media (max-width:{PHONE}px){{
  table.results thead{{position:absolute;width:1px;height:1px;overflow:hidden;
    clip:rect(0 0 0 0)}}
  table.results,table.results :is(tbody,tr,th,td){{display:block}}
  table.results tr{{border-bottom:1px solid #d9dee7;padding:.3rem 0}}
  table.results th[scope=row]{{border:0;padding:.3rem .7rem;font-size:1rem}}
  table.results td{{display:flex;justify-content:space-between;align-items:baseline;
    gap:1rem;border:0;padding:.15rem .7rem;text-align:right}}
  table.results td::before{{content:attr(data-label);color:#5b6475;text-align:left}}
  table.results td small{{display:inline}}
  table.results td.none{{display:none}}
  figure.chart{{padding:.4rem}}
  svg.chart-svg{{font-size:{PHONE_FONT:g}px}}
}}
"""
"""Rules for ``tables`` and ``charts`` output only (classes they emit)."""
