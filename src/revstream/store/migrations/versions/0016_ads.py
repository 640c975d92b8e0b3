"""The ad stream (issue 13): advertisers (a token hash, never the token), campaigns (terms as
JSON, live spend as unit/nanos pairs), impressions and clicks (log sources settled by
position), click burst windows per network pseudonym, and the age band of API keys.
New tables only: nothing is rewritten.

Revision ID: 0016
"""

from alembic import op
import sqlalchemy as sa

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def _pair(name: str) -> list[sa.Column]:
    return [sa.Column(f"{name}_units", sa.BigInteger, nullable=False, server_default="0"),
            sa.Column(f"{name}_nanos", sa.BigInteger, nullable=False)]


def _positions() -> list[sa.Column]:
    return [sa.Column("log_index", sa.BigInteger, nullable=True, unique=True),
            sa.Column("settled_period", sa.String(7), nullable=True)]


def upgrade() -> None:
    op.create_table(
        "ad_advertisers",
        sa.Column("advertiser_id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("legal_name", sa.String(200), nullable=True),
        sa.Column("token_sha256", sa.String(64), nullable=True, unique=True),
        sa.Column("currency", sa.String(3), nullable=True),
        sa.Column("created_us", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "ad_campaigns",
        sa.Column("campaign_id", sa.String(64), primary_key=True),
        sa.Column("advertiser_id", sa.String(64), nullable=False, index=True),
        sa.Column("terms", sa.Text, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("created_us", sa.BigInteger, nullable=False),
        *_pair("spent"),
        sa.Column("spent_day", sa.String(10), nullable=False, server_default=""),
        *_pair("day_spent"),
        sa.Column("impressions", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("clicks", sa.BigInteger, nullable=False, server_default="0"),
    )
    op.create_table(
        "ad_impressions",
        sa.Column("impression_id", sa.String(64), primary_key=True),
        sa.Column("campaign_id", sa.String(64), nullable=False),
        sa.Column("advertiser_id", sa.String(64), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("time_us", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("bid_kind", sa.String(3), nullable=False),
        sa.Column("price_nanos", sa.BigInteger, nullable=False),
        sa.Column("charge_nanos", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("keywords", sa.Text, nullable=False),
        sa.Column("categories", sa.Text, nullable=False),
        sa.Column("answer_sha256", sa.String(64), nullable=False),
        sa.Column("conversation_key", sa.String(64), nullable=False),
        sa.Column("click_used", sa.Boolean, nullable=False, server_default="0"),
        *_positions(),
    )
    op.create_index("ix_ad_impressions_status", "ad_impressions", ["status", "time_us"])
    op.create_index("ix_ad_impressions_conversation", "ad_impressions", ["conversation_key", "campaign_id"])
    op.create_index("ix_ad_impressions_campaign", "ad_impressions", ["campaign_id", "time_us"])
    op.create_table(
        "ad_clicks",
        sa.Column("click_id", sa.String(64), primary_key=True),
        sa.Column("impression_id", sa.String(64), nullable=False, index=True),
        sa.Column("campaign_id", sa.String(64), nullable=False),
        sa.Column("advertiser_id", sa.String(64), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("time_us", sa.BigInteger, nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("charge_nanos", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        *_positions(),
    )
    op.create_table(
        "ad_click_windows",
        sa.Column("network_key", sa.String(64), primary_key=True),
        sa.Column("window_start_us", sa.BigInteger, nullable=False),
        sa.Column("current", sa.BigInteger, nullable=False),
        sa.Column("previous", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "ad_key_settings",
        sa.Column("key_id", sa.String(64), primary_key=True),
        sa.Column("age_band", sa.String(10), nullable=False),
    )


def downgrade() -> None:
    for table in ("ad_key_settings", "ad_click_windows", "ad_clicks", "ad_impressions", "ad_campaigns",
                  "ad_advertisers"):
        op.drop_table(table)
