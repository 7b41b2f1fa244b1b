"""Every mapping preset loads the export it is named for, and the shared real data loads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from accord.store import Store, load_file, load_mapping, preset_names
from conftest import SHARED_DATA, write

REPO = Path(__file__).resolve().parents[1]


def test_presets_validate_against_their_tables() -> None:
    names = preset_names()
    assert names == [
        "hubspot-companies",
        "hubspot-contacts",
        "hubspot-deals",
        "journeys",
        "marketo-activities",
        "salesforce-campaign-members",
        "salesforce-leads",
        "salesforce-opportunities",
    ]
    for name in names:
        m = load_mapping(name)
        assert m.table is not None
        m.check_against(m.table)


def test_hubspot_exports(duck: Store, tmp_path: Path) -> None:
    companies = write(
        tmp_path / "companies.csv",
        "Record ID,Company name,Company Domain Name,Industry,Number of Employees,Annual Revenue,Country/Region,Lifecycle Stage\n"
        "101,Acme,acme.com,Computer Software,250,12000000,United States,Customer\n",
    )
    assert load_file(duck, "accounts", companies, "hubspot-companies").loaded == 1
    contacts = write(
        tmp_path / "contacts.csv",
        "Record ID,First Name,Email,Job Title,Country/Region,Create Date,Original Source,Associated Company ID,Budget\n"
        "9001,Ana,ana@acme.com,VP Marketing,United States,2024-03-01 09:30,PAID_SEARCH,101,25000\n"
        "9002,Bo,bo@x.io,Analyst,Germany,2024-03-02 10:00,Organic Search,,\n",
    )
    r = load_file(duck, "leads", contacts, "hubspot-contacts")
    assert r.loaded == 2
    rows = {x["id"]: x for x in duck.table("leads").to_pyarrow().to_pylist()}
    assert rows["9001"]["source"] == "paid_search" and rows["9002"]["source"] == "organic_search"
    assert json.loads(rows["9001"]["properties"]) == {"First Name": "Ana", "Budget": 25000}
    deals = write(
        tmp_path / "deals.csv",
        "Record ID,Deal Name,Deal Stage,Amount,Create Date,Close Date,Associated Company ID,Associated Contact ID\n"
        "7,Big,closedwon,50000,2024-04-01,2024-06-01,101,9001\n"
        "8,Small,appointmentscheduled,1000,2024-04-02,2024-09-30,101,9002\n",
    )
    assert load_file(duck, "opportunities", deals, "hubspot-deals").loaded == 2
    rows = {x["id"]: x for x in duck.table("opportunities").to_pyarrow().to_pylist()}
    # an open deal's Close Date is only expected: not closed, neither won nor lost
    assert rows["7"]["is_won"] is True and rows["7"]["closed_at"].month == 6
    assert rows["8"]["is_won"] is None and rows["8"]["closed_at"] is None


def test_salesforce_exports(duck: Store, tmp_path: Path) -> None:
    leads = write(
        tmp_path / "Lead.csv",
        "Id,Email,Title,Country,LeadSource,CreatedDate,ConvertedAccountId,Company,Status\n"
        "00Q1,a@b.com,CTO,US,Web,2024-01-05T10:00:00.000Z,,B Inc,Open\n",
    )
    assert load_file(duck, "leads", leads, "salesforce-leads").loaded == 1
    members = write(
        tmp_path / "CampaignMember.csv",
        "Id,LeadId,CampaignId,Campaign.Name,Campaign.Type,Status,HasResponded,CreatedDate\n"
        "00v1,00Q1,7011,Spring Webinar,Webinar,Attended,true,2024-02-01T15:00:00.000Z\n"
        "00v2,00Q1,7012,Mystery,Other,Sent,false,2024-02-03T15:00:00.000Z\n",
    )
    assert load_file(duck, "touchpoints", members, "salesforce-campaign-members").loaded == 2
    types = sorted(duck.table("touchpoints").touch_type.execute().tolist())
    assert types == ["campaign_response", "webinar"]
    opps = write(
        tmp_path / "Opportunity.csv",
        "Id,AccountId,CreatedDate,CloseDate,StageName,Amount,IsWon,IsClosed\n006A,,2024-02-10,2024-03-30,Closed Won,900,true,true\n",
    )
    assert load_file(duck, "opportunities", opps, "salesforce-opportunities").loaded == 1


def test_marketo_activities(duck: Store, tmp_path: Path) -> None:
    write(tmp_path / "leads.csv", "id,created_at\n42,2024-01-01\n")
    load_file(duck, "leads", tmp_path / "leads.csv")
    acts = write(
        tmp_path / "activities.csv",
        "marketoGUID,leadId,activityDate,activityTypeId,campaignId,primaryAttributeValueId,primaryAttributeValue,attributes\n"
        "g1,42,2024-01-02T10:00:00Z,1,,5,/pricing,\n"
        "g2,42,2024-01-03T10:00:00Z,11,88,9,Newsletter,\n"
        "g3,42,2024-01-04T10:00:00Z,46,,,,\n",
    )
    assert load_file(duck, "touchpoints", acts, "marketo-activities").loaded == 3
    got = sorted(
        (x["id"], x["channel"], x["touch_type"]) for x in duck.table("touchpoints").to_pyarrow().to_pylist()
    )
    assert got == [
        ("g1", "web", "web_visit"),
        ("g2", "email", "email_click"),
        ("g3", "marketo", "46"),
    ]


needs_shared = pytest.mark.skipif(not SHARED_DATA.exists(), reason=f"shared data not found at {SHARED_DATA}")


@needs_shared
def test_journey_file_loads_through_preset(duck: Store) -> None:
    r = load_file(duck, "touchpoints", SHARED_DATA / "si05_attribution_journeys.csv", "journeys")
    assert (r.loaded, r.rejected) == (62_483, 0)
    assert r.created_parents == {"leads": 7_896}
    tp = duck.table("touchpoints")
    assert tp.filter(tp.touch_type == "conversion").count().execute() == 1_838
    assert tp.channel.nunique().execute() == 5


@needs_shared
def test_olist_mqls_and_closed_deals_load_with_mappings(duck: Store) -> None:
    mqls = load_file(
        duck,
        "leads",
        SHARED_DATA / "olist_marketing_qualified_leads.csv",
        REPO / "examples/mappings/olist-mqls.yaml",
    )
    assert (mqls.loaded, mqls.rejected) == (8_000, 0)
    deals = load_file(
        duck,
        "opportunities",
        SHARED_DATA / "olist_closed_deals.csv",
        REPO / "examples/mappings/olist-closed-deals.yaml",
    )
    assert (deals.loaded, deals.rejected) == (842, 0)
    opp = duck.table("opportunities")
    first = opp.filter(opp.id == "5420aad7fec3549a85876ba1c529bd84").to_pyarrow().to_pylist()[0]
    assert str(first["closed_at"]) == "2018-02-26 19:58:00"  # dd-mm-yyyy hh:mm
    stocks = [json.loads(p).get("average_stock") for p in opp.properties.execute()]
    assert "01-May" not in stocks and "May-20" not in stocks and stocks.count("1-5") == 10


def _scored(duck: Store) -> None:
    from accord.demo import sign_demo_pact
    from accord.scoring.run import run_scoring
    from accord.workflows.live import now

    run_scoring(duck, sign_demo_pact(duck), now())


def _csv(path: Path) -> list[dict[str, str]]:
    import csv

    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_hubspot_and_marketo_write_back_files_key_every_row_to_its_contact(
    duck: Store, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from accord.cli.main import app

    contacts = write(
        tmp_path / "contacts.csv",
        "Record ID,Email,Job Title,Country/Region,Create Date,Original Source,Associated Company ID\n"
        "9001,ana@acme.com,VP Marketing,United States,2024-03-01 09:30,PAID_SEARCH,\n"
        "9002,bo@x.io,Analyst,Germany,2024-03-02 10:00,Organic Search,\n"
        "9003,,Intern,Germany,2024-03-03 10:00,Organic Search,\n",
    )
    assert load_file(duck, "leads", contacts, "hubspot-contacts").loaded == 3
    _scored(duck)
    url = f"duckdb://{tmp_path / 'accord.duckdb'}"
    duck.close()
    runner = CliRunner()
    out = tmp_path / "hubspot.csv"
    done = runner.invoke(app, ["scores", "export", "--to", "hubspot", "-o", str(out), "--url", url])
    assert done.exit_code == 0, done.output
    assert "wrote 2 scores" in done.output and "left out 1 leads with no email" in done.output
    rows = _csv(out)
    assert list(rows[0]) == [
        "Email",
        "Accord Score",
        "Accord Grade",
        "Accord Engagement Band",
        "Accord MQL",
        "Lifecycle Stage",
        "Accord Scored On",
    ]
    assert {r["Email"] for r in rows} == {"ana@acme.com", "bo@x.io"}  # each keys back to its contact
    from accord.store import connect

    with connect(url) as store:
        stored = {r["lead_id"]: r for r in store.table("lead_scores").to_pyarrow().to_pylist()}
    by_email = {"ana@acme.com": "9001", "bo@x.io": "9002"}
    for r in rows:
        s = stored[by_email[r["Email"]]]
        assert r["Accord Score"] == f"{s['score']:.0f}" and r["Accord Grade"] == s["grade"]
        assert r["Accord MQL"] == ("true" if s["is_mql"] else "false")
        assert r["Lifecycle Stage"] in ("lead", "marketingqualifiedlead")
    marketo = tmp_path / "marketo.csv"
    done = runner.invoke(app, ["scores", "export", "--to", "marketo", "-o", str(marketo), "--url", url])
    assert done.exit_code == 0, done.output
    assert {r["Email Address"] for r in _csv(marketo)} == {"ana@acme.com", "bo@x.io"}
    assert all(r["Lead Score"].isdigit() for r in _csv(marketo))


def test_salesforce_write_back_file_keys_every_row_by_record_id(duck: Store, tmp_path: Path) -> None:
    from accord.workflows.scoring import export_scores

    leads = write(
        tmp_path / "Lead.csv",
        "Id,Email,Title,Country,LeadSource,CreatedDate,ConvertedAccountId,Company,Status\n"
        "00Q1,a@b.com,CTO,US,Web,2024-01-05T10:00:00.000Z,,B Inc,Open\n"
        "00Q2,,Analyst,DE,Web,2024-01-06T10:00:00.000Z,,C GmbH,Open\n",
    )
    assert load_file(duck, "leads", leads, "salesforce-leads").loaded == 2
    _scored(duck)
    r = export_scores(duck, tmp_path / "sf.csv", to="salesforce")
    assert (r.rows, r.left_out, r.crm) == (2, 0, "salesforce")  # keyed by Id: no email needed
    rows = _csv(tmp_path / "sf.csv")
    assert {x["Id"] for x in rows} == {"00Q1", "00Q2"}
    assert list(rows[0])[:2] == ["Id", "Accord_Score__c"]
    assert all(
        x["Accord_MQL__c"] in ("true", "false") and x["Accord_Scored_At__c"].endswith(".000Z") for x in rows
    )
    assert {x["Status"] for x in rows} == {"Open - Not Contacted"}
    with pytest.raises(Exception, match="--to must be one of hubspot, salesforce, marketo"):
        export_scores(duck, tmp_path / "x.csv", to="pipedrive")
