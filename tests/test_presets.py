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
