<?php
/*
 * Setup step (cached by tests/realcore/setup.sh): Core's shipped default mikopbx.db has an older schema
 * and older data. Bring it to the tag as a station's boot does: Core's UpdateDatabase::updateDatabaseStructure()
 * (tables from the models' annotations), then every release step of Core's src/Core/System/Upgrade/Releases
 * newer than the DB's PBXVersion, in version order (what UpdateSystemConfig::updateConfigs() runs; e.g. the
 * 2024.12.12 step creates the SYSTEM extensions hangup, busy, voicemail, did2user that incoming routes
 * depend on), then PBXVersion = the tag. UpdateSystemConfig itself is not called: it reads /etc/version and
 * then moves sound files and rewrites iptables, none of which belongs in this chroot.
 * The DB at database.dbfile of the run's settings is migrated in place.
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
$from = (string)$db->fetchColumn("SELECT value FROM m_PbxSettings WHERE key='PBXVersion'");
$releases = [];
foreach (glob(getenv('PBXFED_CORE_DIR') . '/src/Core/System/Upgrade/Releases/*.php') ?: [] as $file) {
    $class = '\\MikoPBX\\Core\\System\\Upgrade\\Releases\\' . basename($file, '.php');
    if (class_exists($class)) {
        $releases[$class::PBX_VERSION] = $class;
    }
}
uksort($releases, 'version_compare');
foreach ($releases as $version => $class) {
    if (version_compare($from, (string)$version, '<') && version_compare((string)$version, $tag, '<=')) {
        // A step that touches the station's file system at hard-coded paths (e.g. 2021.2.187 moving
        // /storage/usbdisk1 recordings) fails here; it is reported and the next step runs.
        ob_start();
        try {
            (new $class())->processUpdate();
            $result = 'done';
        } catch (Throwable $e) {
            $result = 'FAILED (' . get_class($e) . ': ' . strtok($e->getMessage(), "\n") . ')';
        }
        $out = trim((string)ob_get_clean());
        echo "release step $version $result" . ($out !== '' ? ': ' . str_replace("\n", ' | ', $out) : '') . "\n";
    }
}
$db->execute('UPDATE m_PbxSettings SET value = ? WHERE key = ?', [$tag, 'PBXVersion']);
$system = $db->fetchAll("SELECT number FROM m_Extensions WHERE type='SYSTEM' ORDER BY number");
if (array_column($system, 'number') !== ['busy', 'did2user', 'hangup', 'voicemail']) {
    fwrite(STDERR, "migrate_db: the SYSTEM extensions are not there after the release steps\n");
    exit(1);
}
$cols = array_column($db->fetchAll('PRAGMA table_info(m_PbxExtensionModules)'), 'name');
if (!in_array('wiki_links', $cols, true)) {
    fwrite(STDERR, "migrate_db: m_PbxExtensionModules has no wiki_links after the migration\n");
    exit(1);
}
$db->execute('PRAGMA wal_checkpoint(TRUNCATE)');
printf("migrated in %.2f s; PBXVersion row now %s\n", microtime(true) - $started,
    (string)$db->fetchColumn("SELECT value FROM m_PbxSettings WHERE key='PBXVersion'"));
