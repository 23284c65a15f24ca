-- Minga's default schema: the shared registry of South-South and triangular cooperation
-- in Latin America and the Caribbean. Grounded in the IATI Activity Standard 2.03 (element
-- names in comments) and SEGIB's classification of South-South cooperation.
--
-- Keys are identifiers that two agencies never mint for different things: IATI organisation
-- identifiers (e.g. XM-DAC-...) and IATI activity identifiers (reporting-org prefix + local
-- id), or keys composed from them. Codes are checked against the IATI codelists that ship
-- with Minga (read-only reference data, see `minga check`).

-- organisation: an agency, ministry, fund manager or bank (IATI organisation identifier).
CREATE TABLE organisation(
    ref TEXT PRIMARY KEY,              -- IATI organisation identifier, e.g. XM-DAC-41114
    name TEXT NOT NULL,
    type TEXT,                         -- IATI OrganisationType code
    country TEXT                       -- IATI Country (ISO 3166-1 alpha-2)
);

-- initiative: a cooperation programme, project or action (an iati-activity).
CREATE TABLE initiative(
    iati_identifier TEXT PRIMARY KEY,  -- iati-identifier
    reporting_org TEXT,                -- reporting-org/@ref
    reporting_org_type TEXT,           -- reporting-org/@type (OrganisationType)
    default_lang TEXT,                 -- @xml:lang
    default_currency TEXT,             -- @default-currency (Currency)
    hierarchy INTEGER,                 -- @hierarchy
    last_updated TEXT,                 -- @last-updated-datetime
    modality TEXT CHECK (modality IN ('bilateral', 'triangular', 'regional')),  -- SEGIB modality
    instrument TEXT CHECK (instrument IN ('programme', 'project', 'action')),    -- SEGIB instrument
    status TEXT,                       -- activity-status/@code (ActivityStatus)
    collaboration_type TEXT,           -- collaboration-type/@code (CollaborationType)
    flow_type TEXT,                    -- default-flow-type/@code (FlowType)
    finance_type TEXT,                 -- default-finance-type/@code (FinanceType)
    aid_type TEXT,                     -- default-aid-type/@code, vocabulary 1 (AidType)
    planned_start TEXT,                -- activity-date type 1
    actual_start TEXT,                 -- activity-date type 2
    planned_end TEXT,                  -- activity-date type 3
    actual_end TEXT,                   -- activity-date type 4
    sdg_main TEXT,                     -- main SDG (UNSDG-Goals)
    sdg_secondary TEXT,                -- secondary SDG (UNSDG-Goals)
    parent TEXT                        -- iati_identifier of the parent initiative (related-activity type 1)
);

-- initiative_text: titles and descriptions, one row per language (narrative/@xml:lang).
-- element is 'title' or 'description/N' with N the IATI DescriptionType code.
CREATE TABLE initiative_text(
    initiative TEXT NOT NULL,
    element TEXT NOT NULL,
    lang TEXT NOT NULL,                -- ISO 639-1, or the activity's default language
    text TEXT NOT NULL,
    PRIMARY KEY (initiative, element, lang)
);

-- participation: who takes part in an initiative and in what role (participating-org).
CREATE TABLE participation(
    initiative TEXT NOT NULL,
    org_ref TEXT NOT NULL,             -- participating-org/@ref
    iati_role TEXT NOT NULL,           -- participating-org/@role (OrganisationRole)
    segib_role TEXT CHECK (segib_role IN ('provider', 'recipient', 'first provider', 'second provider')),
    org_type TEXT,                     -- participating-org/@type (OrganisationType)
    activity_id TEXT,                  -- participating-org/@activity-id
    name TEXT,                         -- participating-org/narrative (default language)
    PRIMARY KEY (initiative, org_ref, iati_role)
);

-- recipient_country / recipient_region: where, with percentages.
CREATE TABLE recipient_country(
    initiative TEXT NOT NULL,
    country TEXT NOT NULL,             -- Country
    percentage REAL,
    PRIMARY KEY (initiative, country)
);
CREATE TABLE recipient_region(
    initiative TEXT NOT NULL,
    vocabulary TEXT NOT NULL,          -- RegionVocabulary (1 = OECD DAC)
    region TEXT NOT NULL,              -- Region when vocabulary is 1
    percentage REAL,
    PRIMARY KEY (initiative, vocabulary, region)
);

-- classification: sectors and SDG goals/targets (IATI sector vocabularies 7, 8, 9) and tags.
CREATE TABLE classification(
    initiative TEXT NOT NULL,
    scheme TEXT NOT NULL CHECK (scheme IN ('sector', 'tag')),
    vocabulary TEXT NOT NULL,          -- SectorVocabulary for sectors
    code TEXT NOT NULL,                -- Sector when vocabulary is 1
    percentage REAL,
    PRIMARY KEY (initiative, scheme, vocabulary, code)
);

-- financing_instrument: joint cooperation funds, trust funds, regional programmes,
-- development-bank facilities. id is the managing organisation's identifier, '-', and its own code.
CREATE TABLE financing_instrument(
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('joint fund', 'trust fund', 'regional programme', 'bank facility')),
    managing_org TEXT,                 -- organisation.ref
    currency TEXT,                     -- Currency
    start_date TEXT,
    end_date TEXT,
    legal_basis TEXT                   -- the agreement or act that creates it
);
CREATE TABLE instrument_member(
    instrument TEXT NOT NULL,
    org_ref TEXT NOT NULL,
    role TEXT,                         -- e.g. contributor, manager, beneficiary
    contribution REAL,
    currency TEXT,                     -- Currency
    PRIMARY KEY (instrument, org_ref)
);
CREATE TABLE instrument_financing(
    instrument TEXT NOT NULL,
    initiative TEXT NOT NULL,
    amount REAL,
    currency TEXT,                     -- Currency
    PRIMARY KEY (instrument, initiative)
);

-- flow: money — transactions (commitments, disbursements, expenditures, incoming funds …),
-- budgets and planned disbursements. id is the initiative's identifier, '/', the element and
-- its transaction @ref or position, so re-importing a file updates flows in place.
CREATE TABLE flow(
    id TEXT PRIMARY KEY,
    initiative TEXT NOT NULL,
    kind TEXT NOT NULL,                -- 'transaction', 'budget' or 'planned-disbursement'
    transaction_type TEXT,             -- TransactionType (1 incoming funds, 2 commitment, 3 disbursement, 4 expenditure …)
    budget_type TEXT,                  -- BudgetType
    budget_status TEXT,                -- BudgetStatus
    ref TEXT,                          -- transaction/@ref
    value REAL NOT NULL,
    currency TEXT,                     -- Currency (else the initiative's default)
    value_date TEXT,
    transaction_date TEXT,
    period_start TEXT,
    period_end TEXT,
    provider_org TEXT,                 -- provider-org/@ref
    provider_activity TEXT,            -- provider-org/@provider-activity-id
    receiver_org TEXT,                 -- receiver-org/@ref
    receiver_activity TEXT,            -- receiver-org/@receiver-activity-id
    instrument TEXT,                   -- financing_instrument.id, when a fund finances it
    description TEXT
);
CREATE INDEX flow_initiative ON flow(initiative);
