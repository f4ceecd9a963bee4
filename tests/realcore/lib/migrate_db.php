<?php
/*
 * Setup step (cached by tests/realcore/setup.sh): Core's shipped default mikopbx.db has an older schema;
 * migrate it with Core's own UpdateDatabase::updateDatabaseStructure() (tables from the models'
 * annotations) and set PBXVersion to the tag, as a station's boot does. The DB at database.dbfile of the
 * run's settings is migrated in place.
 * Usage (inside the runtime): php migrate_db.php <tag>
 */

declare(strict_types=1);

$tag = $argv[1] ?? '';
require __DIR__ . '/../bootstrap.php';

use MikoPBX\Common\Models\PbxSettings;
use MikoPBX\Core\System\Upgrade\UpdateDatabase;
use Phalcon\Di\Di;

// The station's php.ini reports E_DEPRECATED and Core's Whoops handler turns every reported error into an
// exception. Phalcon 5.18.1's Pdo\Sqlite::describeIndexes() calls preg_match() with null for SQLite's own
// auto-indexes, a deprecation under PHP 8.4: thrown inside UpdateDatabase's transaction, it breaks the
// migration of every later table. Deprecations are therefore not reported during this setup step only
// (the tests run with the station's setting).
error_reporting(error_reporting() & ~E_DEPRECATED);
$started = microtime(true);
ob_start();
(new UpdateDatabase())->updateDatabaseStructure();
$log = (string)ob_get_clean();
if (stripos($log, 'ERROR') !== false) {
    fwrite(STDERR, $log);
    fwrite(STDERR, "migrate_db: UpdateDatabase reported errors\n");
    exit(1);
}
$db = Di::getDefault()->getShared('db');
$db->execute('UPDATE m_PbxSettings SET value = ? WHERE key = ?', [$tag, 'PBXVersion']);
$cols = array_column($db->fetchAll('PRAGMA table_info(m_PbxExtensionModules)'), 'name');
if (!in_array('wiki_links', $cols, true)) {
    fwrite(STDERR, "migrate_db: m_PbxExtensionModules has no wiki_links after the migration\n");
    exit(1);
}
$db->execute('PRAGMA wal_checkpoint(TRUNCATE)');
printf("migrated in %.2f s; PBXVersion row now %s\n", microtime(true) - $started,
    (string)$db->fetchColumn("SELECT value FROM m_PbxSettings WHERE key='PBXVersion'"));
