-- The registry database of schema version 1 (ScanGate before 2026-12), as SQLAlchemy created it
-- on SQLite: the starting point of tests/registry/test_upgrade.py. Generated from registry/db.py
-- at that version; never edit by hand.

CREATE TABLE meta (
	"key" VARCHAR(64) NOT NULL, 
	value VARCHAR(255) NOT NULL, 
	PRIMARY KEY ("key")
);

CREATE TABLE performers (
	performer_id VARCHAR(64) NOT NULL, 
	display_name VARCHAR(255) NOT NULL, 
	union_membership VARCHAR(255), 
	representative VARCHAR(255), 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (performer_id)
);

CREATE TABLE productions (
	production_id VARCHAR(64) NOT NULL, 
	name VARCHAR(255) NOT NULL, 
	producer VARCHAR(255) NOT NULL, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (production_id)
);

CREATE TABLE signing_keys (
	key_id VARCHAR(64) NOT NULL, 
	generation INTEGER NOT NULL, 
	public_key VARCHAR(64) NOT NULL, 
	private_key_pem TEXT NOT NULL, 
	encrypted BOOLEAN NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	created_at DATETIME NOT NULL, 
	retired_at DATETIME, 
	PRIMARY KEY (key_id), 
	UNIQUE (generation)
);

CREATE TABLE badges (
	badge_id INTEGER NOT NULL, 
	production_id VARCHAR(64) NOT NULL, 
	badge_code VARCHAR(64) NOT NULL, 
	performer_id VARCHAR(64) NOT NULL, 
	pin_hash VARCHAR(255) NOT NULL, 
	failed_attempts INTEGER NOT NULL, 
	locked_until DATETIME, 
	created_at DATETIME NOT NULL, 
	revoked_at DATETIME, 
	PRIMARY KEY (badge_id), 
	CONSTRAINT uq_badge_code UNIQUE (production_id, badge_code), 
	FOREIGN KEY(production_id) REFERENCES productions (production_id), 
	FOREIGN KEY(performer_id) REFERENCES performers (performer_id)
);

CREATE TABLE consents (
	consent_id VARCHAR(64) NOT NULL, 
	performer_id VARCHAR(64) NOT NULL, 
	production_id VARCHAR(64) NOT NULL, 
	version INTEGER NOT NULL, 
	supersedes VARCHAR(64), 
	status VARCHAR(16) NOT NULL, 
	biometric_check_consent BOOLEAN NOT NULL, 
	valid_until DATETIME NOT NULL, 
	issued_at DATETIME NOT NULL, 
	key_id VARCHAR(64) NOT NULL, 
	record_json TEXT NOT NULL, 
	PRIMARY KEY (consent_id), 
	FOREIGN KEY(performer_id) REFERENCES performers (performer_id), 
	FOREIGN KEY(production_id) REFERENCES productions (production_id), 
	UNIQUE (supersedes)
);

CREATE INDEX ix_consents_performer_production ON consents (performer_id, production_id, version);

CREATE TABLE face_templates (
	template_id VARCHAR(64) NOT NULL, 
	performer_id VARCHAR(64) NOT NULL, 
	version INTEGER NOT NULL, 
	position INTEGER NOT NULL, 
	model VARCHAR(64) NOT NULL, 
	encoding_json TEXT NOT NULL, 
	source VARCHAR(255), 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (template_id), 
	FOREIGN KEY(performer_id) REFERENCES performers (performer_id)
);

CREATE INDEX ix_face_templates_performer_id ON face_templates (performer_id);

CREATE TABLE rigs (
	rig_id VARCHAR(64) NOT NULL, 
	production_id VARCHAR(64) NOT NULL, 
	name VARCHAR(255) NOT NULL, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (rig_id), 
	FOREIGN KEY(production_id) REFERENCES productions (production_id)
);

CREATE TABLE checkpoints (
	rig_id VARCHAR(64) NOT NULL, 
	sequence BIGINT NOT NULL, 
	checkpoint_json TEXT NOT NULL, 
	PRIMARY KEY (rig_id), 
	FOREIGN KEY(rig_id) REFERENCES rigs (rig_id)
);

CREATE TABLE confirmations (
	confirmation_id INTEGER NOT NULL, 
	consent_id VARCHAR(64) NOT NULL, 
	consent_version INTEGER NOT NULL, 
	rig_id VARCHAR(64) NOT NULL, 
	session_id VARCHAR(64) NOT NULL, 
	decision VARCHAR(16) NOT NULL, 
	body_json TEXT NOT NULL, 
	received_at DATETIME NOT NULL, 
	PRIMARY KEY (confirmation_id), 
	CONSTRAINT uq_confirmation_session UNIQUE (rig_id, session_id, consent_id), 
	FOREIGN KEY(consent_id) REFERENCES consents (consent_id), 
	FOREIGN KEY(rig_id) REFERENCES rigs (rig_id)
);

CREATE TABLE revocations (
	cursor INTEGER NOT NULL, 
	consent_id VARCHAR(64) NOT NULL, 
	consent_version INTEGER NOT NULL, 
	performer_id VARCHAR(64) NOT NULL, 
	production_id VARCHAR(64) NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	revoked_at DATETIME NOT NULL, 
	reason TEXT NOT NULL, 
	PRIMARY KEY (cursor), 
	FOREIGN KEY(consent_id) REFERENCES consents (consent_id)
);

CREATE INDEX ix_revocations_production_id ON revocations (production_id);

CREATE TABLE rig_keys (
	key_id VARCHAR(64) NOT NULL, 
	rig_id VARCHAR(64) NOT NULL, 
	public_key VARCHAR(64) NOT NULL, 
	added_at DATETIME NOT NULL, 
	retired_at DATETIME, 
	PRIMARY KEY (key_id), 
	FOREIGN KEY(rig_id) REFERENCES rigs (rig_id)
);

CREATE INDEX ix_rig_keys_rig_id ON rig_keys (rig_id);

CREATE TABLE session_records (
	record_hash VARCHAR(64) NOT NULL, 
	rig_id VARCHAR(64) NOT NULL, 
	sequence BIGINT NOT NULL, 
	previous_hash VARCHAR(64), 
	key_id VARCHAR(64) NOT NULL, 
	record_json TEXT NOT NULL, 
	received_at DATETIME NOT NULL, 
	PRIMARY KEY (record_hash), 
	CONSTRAINT uq_session_record_sequence UNIQUE (rig_id, sequence), 
	FOREIGN KEY(rig_id) REFERENCES rigs (rig_id)
);

CREATE TABLE tokens (
	token_id VARCHAR(32) NOT NULL, 
	token_sha256 VARCHAR(64) NOT NULL, 
	kind VARCHAR(8) NOT NULL, 
	rig_id VARCHAR(64), 
	label VARCHAR(255) NOT NULL, 
	created_at DATETIME NOT NULL, 
	revoked_at DATETIME, 
	PRIMARY KEY (token_id), 
	UNIQUE (token_sha256), 
	FOREIGN KEY(rig_id) REFERENCES rigs (rig_id)
);
