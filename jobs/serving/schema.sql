-- The PostgreSQL serving tables the `publish` stage loads (jobs/serving/publish.py) and `cdp serve`
-- reads: OneID's inverted table for the CRM, the golden profile (masked) and, for the run's ds,
-- tags, RFM, lifecycle, segments and each one_id's latest orders and events.
--
-- Column names are the Delta tables' (SPEC section 4); types map Spark's: string → text,
-- timestamp_ntz → timestamp (Asia/Shanghai wall-clock time, as written), decimal(18,2) → numeric(18,2),
-- array<string> → text[].
--
-- Each block below is one table: its CREATE TABLE, then its key and indexes. The publish stage
-- runs a block with search_path set to the staging schema (cdp_staging), bulk-loads the table,
-- then builds the key and indexes (faster than loading into indexed tables), and swaps every
-- table into schema cdp in one transaction. `psql -f jobs/serving/schema.sql` creates them
-- empty in cdp. Unqualified names on purpose: the schema comes from search_path.

CREATE SCHEMA IF NOT EXISTS cdp;
SET search_path TO cdp;

-- table: published_tables
-- One row per served table: the business date and row count of the publish that swapped it in.
CREATE TABLE published_tables (
    table_name   text NOT NULL,
    ds           date NOT NULL,
    row_count    bigint NOT NULL,
    published_at timestamptz NOT NULL
);
ALTER TABLE published_tables ADD PRIMARY KEY (table_name);

-- table: id_mapping
-- oneid.id_mapping, the inverted table: one row per canonical identifier (restricted: raw values,
-- so the CRM can look up by mobile). cluster_id, OneID's working component id, is left out.
CREATE TABLE id_mapping (
    id_type      text NOT NULL,
    id_value     text NOT NULL,
    one_id       text NOT NULL,
    first_seen   timestamp,
    last_seen    timestamp,
    source_count integer,
    sources      text[],
    assigned_ds  date
);
ALTER TABLE id_mapping ADD PRIMARY KEY (id_type, id_value);
CREATE INDEX id_mapping_one_id ON id_mapping (one_id);

-- table: one_id_alias
-- oneid.one_id_alias: a merged-away one_id and the one that answers for it now.
CREATE TABLE one_id_alias (
    alias_one_id text NOT NULL,
    one_id       text NOT NULL,
    merged_ds    date
);
ALTER TABLE one_id_alias ADD PRIMARY KEY (alias_one_id);
CREATE INDEX one_id_alias_one_id ON one_id_alias (one_id);

-- table: merge_log
-- oneid.merge_log up to the run's ds: kind is merge, split or retired (to_one_id null).
CREATE TABLE merge_log (
    ds          date NOT NULL,
    from_one_id text NOT NULL,
    to_one_id   text,
    kind        text NOT NULL,
    reason      text
);
ALTER TABLE merge_log ADD CONSTRAINT merge_log_key UNIQUE NULLS NOT DISTINCT (ds, from_one_id, kind, to_one_id);
CREATE INDEX merge_log_ds ON merge_log (ds);
CREATE INDEX merge_log_from_one_id ON merge_log (from_one_id);
CREATE INDEX merge_log_to_one_id ON merge_log (to_one_id);

-- table: profile
-- oneid.profile, the golden record: mobile and email only masked and salted-hashed.
CREATE TABLE profile (
    one_id             text NOT NULL,
    member_id          text,
    mobile_masked      text,
    mobile_hash        text,
    email_masked       text,
    email_hash         text,
    wx_unionid         text,
    name               text,
    gender             text,
    birthday           date,
    province           text,
    city               text,
    member_id_source   text,
    mobile_source      text,
    email_source       text,
    wx_unionid_source  text,
    name_source        text,
    gender_source      text,
    birthday_source    text,
    address_source     text,
    identifier_count   bigint,
    member_count       bigint,
    sources            text[],
    first_seen         timestamp,
    last_seen          timestamp,
    updated_ds         date
);
ALTER TABLE profile ADD PRIMARY KEY (one_id);
-- The 360° page's search by name, whole or by its beginning: text_pattern_ops serves LIKE 'x%'
-- whatever the database's collation.
CREATE INDEX profile_name ON profile (name text_pattern_ops);

-- table: tag_value
-- ads.tag_value of the run's ds, with the tag's names and category from ads.tag_catalog.
CREATE TABLE tag_value (
    ds            date NOT NULL,
    one_id        text NOT NULL,
    tag_code      text NOT NULL,
    tag_value     text,
    name_zh       text,
    name_en       text,
    category_path text,
    category_l1   text,
    value_type    text
);
ALTER TABLE tag_value ADD PRIMARY KEY (one_id, tag_code);

-- table: member_rfm
-- ads.member_rfm of the run's ds.
CREATE TABLE member_rfm (
    ds                  date NOT NULL,
    one_id              text NOT NULL,
    recency_days        integer,
    frequency           bigint,
    monetary            numeric(18, 2),
    r_score             integer,
    f_score             integer,
    m_score             integer,
    rfm_segment         text,
    rfm_segment_name    text,
    first_purchase_date date,
    last_purchase_date  date
);
ALTER TABLE member_rfm ADD PRIMARY KEY (one_id);

-- table: member_lifecycle
-- ads.member_lifecycle of the run's ds.
CREATE TABLE member_lifecycle (
    ds               date NOT NULL,
    one_id           text NOT NULL,
    stage            text,
    stage_since      date,
    order_count      bigint,
    first_order_date date,
    last_order_date  date,
    recency_days     integer
);
ALTER TABLE member_lifecycle ADD PRIMARY KEY (one_id);

-- table: segment_member
-- ads.segment_member of the run's ds.
CREATE TABLE segment_member (
    ds      date NOT NULL,
    segment text NOT NULL,
    one_id  text NOT NULL
);
ALTER TABLE segment_member ADD PRIMARY KEY (segment, one_id);
CREATE INDEX segment_member_one_id ON segment_member (one_id);

-- table: recent_order
-- Each one_id's newest orders up to the run's ds (cdm.fct_order owned through
-- oneid.record_identity), for the 360° page's timeline; channel_name from cdm.dim_channel.
CREATE TABLE recent_order (
    one_id          text NOT NULL,
    order_key       text NOT NULL,
    order_id        text,
    order_source    text,
    platform        text,
    channel_id      text,
    channel_name    text,
    store_id        text,
    order_type      text,
    order_status    text,
    order_at        timestamp,
    order_date      date,
    item_count      bigint,
    paid_amount     numeric(18, 2),
    refund_amount   numeric(18, 2),
    net_paid_amount numeric(18, 2)
);
ALTER TABLE recent_order ADD PRIMARY KEY (order_key);
CREATE INDEX recent_order_one_id ON recent_order (one_id, order_at DESC);

-- table: recent_event
-- Each one_id's newest WeChat events up to the run's ds (cdm.fct_event owned through
-- oneid.record_identity); channel_name from cdm.dim_channel, sku_name from cdm.dim_product.
CREATE TABLE recent_event (
    one_id         text NOT NULL,
    event_id       text NOT NULL,
    event_at       timestamp,
    event_date     date,
    event_type     text,
    app_id         text,
    channel_id     text,
    channel_name   text,
    page           text,
    sku_id         text,
    sku_name       text,
    search_keyword text
);
ALTER TABLE recent_event ADD PRIMARY KEY (event_id);
CREATE INDEX recent_event_one_id ON recent_event (one_id, event_at DESC);
