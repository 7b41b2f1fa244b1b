"""The learned points pact against gradient boosting on the same features and split, real and generated.

Usage: python benchmarks/bench_learn.py [LEADS]   (generated leads, default 20,000)

Real data comes from ../shared/data when it is there: Olist's marketing-qualified
leads (won = among the closed deals) and Maven's CRM opportunities (won or lost,
with their accounts). The generated history is learned from the store with a time
split; the learned pact is then back-tested against the example pact.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from accord.demo import demo_pact
from accord.evaluation import BacktestSpec
from accord.evaluation.compare import compare_pacts
from accord.evaluation.learn import learn_from_frame, learn_from_store
from accord.model.tables import TABLES
from accord.store import connect
from accord.synth import generate

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def real_sets() -> dict[str, tuple[pd.DataFrame, str, str]]:
    out = {}
    if (SHARED / "olist_closed_deals.csv").exists():
        mqls = pd.read_csv(SHARED / "olist_marketing_qualified_leads.csv")
        won = set(pd.read_csv(SHARED / "olist_closed_deals.csv").mql_id)
        mqls["won"] = mqls.mql_id.isin(won).astype(int)
        out["olist MQLs (8,000; 10.5% won)"] = (mqls, "won", "mql_id")
    if (SHARED / "maven_crm_sales_pipeline.csv").exists():
        pipe = pd.read_csv(SHARED / "maven_crm_sales_pipeline.csv")
        acc = pd.read_csv(SHARED / "maven_crm_accounts.csv")
        deals = pipe[pipe.deal_stage.isin(["Won", "Lost"])].merge(acc, on="account", how="left")
        deals["won"] = (deals.deal_stage == "Won").astype(int)
        deals = deals.drop(columns=["deal_stage", "close_value", "close_date"])
        out[f"maven CRM deals ({len(deals):,})"] = (deals, "won", "opportunity_id")
    return out


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    rows = []
    for name, (df, outcome, id_col) in real_sets().items():
        started = time.perf_counter()
        learned = learn_from_frame(df, outcome, id_col)
        rows.append(
            (name, learned.auc_points, learned.auc_reference, time.perf_counter() - started, learned.split)
        )
    gen = generate(leads=n, seed=7)
    with tempfile.TemporaryDirectory() as tmp:
        store = connect(f"duckdb://{Path(tmp) / 'b.duckdb'}")
        for table in ("accounts", "leads", "touchpoints", "opportunities", "stage_changes", "feedback"):
            store.write_arrow(table, gen.tables[table], schema=TABLES[table].schema)
        spec = BacktestSpec()
        started = time.perf_counter()
        learned = learn_from_store(store, demo_pact(), spec)
        seconds = time.perf_counter() - started
        rows.append(
            (
                f"generated, {n:,} leads (store)",
                learned.auc_points,
                learned.auc_reference,
                seconds,
                learned.split,
            )
        )
        comparison = compare_pacts(store, demo_pact(), learned.pact, spec)
        store.close()
    print(f"{'data':38s} {'points AUC':>10s} {'GBM AUC':>8s} {'diff':>7s} {'seconds':>8s}  split")
    for name, a, b, s, split in rows:
        print(f"{name:38s} {a:10.3f} {b:8.3f} {a - b:+7.3f} {s:8.1f}  {split}")
    t = comparison.table.set_index("metric")
    print(
        f"\nback-test on the generated history: example pact AUC {t.loc['AUC', 'old']:.3f}, learned "
        f"{t.loc['AUC', 'new']:.3f}; MQL precision {t.loc['MQL precision (converted)', 'old']:.1%} -> "
        f"{t.loc['MQL precision (converted)', 'new']:.1%}\n{comparison.sentence}"
    )


if __name__ == "__main__":
    main()
