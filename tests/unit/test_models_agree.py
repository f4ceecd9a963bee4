"""Models/*.php are the schema's source of truth: python_worker/models.py must agree column by column."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import Table

from python_worker.db.moduledb import init_db
from python_worker.db.tables import directory_table, metadata, peers_table, settings_table, table_columns

ROOT = Path(__file__).resolve().parents[2]
_PHP_TYPES = {"integer": "INTEGER", "string": "TEXT", "text": "TEXT"}


def php_model_columns(path: Path) -> tuple[str, dict[str, str]]:
    """(table, {column: affinity}) read from the Phalcon annotations of one model file."""
    text = path.read_text(encoding="utf-8")
    table = re.search(r"setSource\('([^']+)'\)", text)
    assert table, f"{path} has no setSource()"
    columns: dict[str, str] = {}
    for m in re.finditer(r"/\*\*(?P<doc>(?:(?!\*/).)*?)\*/\s*public \$(?P<name>\w+);", text, flags=re.S):
        col = re.search(r'@Column\(type="(\w+)"', m["doc"])
        if col:
            columns[m["name"]] = _PHP_TYPES[col[1]]
    return table[1], columns


@pytest.mark.parametrize(("php", "table"), [
    ("ModulePbxFederation.php", settings_table),
    ("ModulePbxFederationPeers.php", peers_table),
    ("ModulePbxFederationDirectory.php", directory_table),
])
def test_php_models_and_python_mirror_agree(php: str, table: Table) -> None:
    name, columns = php_model_columns(ROOT / "Models" / php)
    assert name == table.name
    assert list(columns.items()) == list(table_columns(table).items())


def test_every_php_model_is_mirrored() -> None:
    php_tables = {php_model_columns(p)[0] for p in (ROOT / "Models").glob("*.php")}
    assert php_tables == set(metadata.tables)


def test_init_creates_the_tables_and_keeps_data(tmp_path: Path) -> None:
    db = tmp_path / "module.db"
    init_db(db)
    conn = sqlite3.connect(db)
    conn.execute("INSERT INTO m_ModulePbxFederationPeers(name, host) VALUES ('spb', '127.0.0.3')")
    conn.commit()
    conn.close()
    init_db(db)  # again: must not drop anything
    conn = sqlite3.connect(db)
    cols = [r[1] for r in conn.execute("PRAGMA table_info(m_ModulePbxFederationPeers)")]
    rows = conn.execute("SELECT name, host FROM m_ModulePbxFederationPeers").fetchall()
    conn.close()
    assert cols == list(table_columns(peers_table))
    assert rows == [("spb", "127.0.0.3")]
