<?php
/*
 * The marketplace zip installed by MikoPBX Core's own code (2026.1.223, real Phalcon, in the sid chroot) into a
 * station-shaped tree, the module's Python steps running on the emulated station's minimal python3 (the bookworm
 * box, reached through PBXFED_PYTHON: tests/box/station.sh). What WorkerModuleInstaller::installNewModuleFromFile()
 * does after an upload, step by step: the zip extracted entry by entry with ZipArchive, module DB connections
 * recreated, Util::addRegularWWWRights() over the module folder, then PbxExtensionSetup::installModule()
 * (checkCompatibility, installFiles, installDB, fixFilesRights). Each step is timed.
 *
 *   php install_on_box.php install ZIP          expect success; then a peer is added with the worker's CLI, Core
 *                                               enables the module (which starts the worker from the installed
 *                                               tree), the worker plans the peer on the station's migrated
 *                                               mikopbx.db, applies it and answers `status`; then it is stopped
 *   php install_on_box.php refuse ZIP TEXT...   expect installModule() to refuse with a message containing TEXT
 *   php install_on_box.php measure ZIP          install only, plus a 2024.1-style permission pass (one chmod
 *                                               process per file) timed beside Core 2026.1's
 * Prints one JSON line (the facts and timings); exits 1 with the reason when an expectation fails.
 */

declare(strict_types=1);

require getenv('PBXFED_RUNTIME') . '/harness/bootstrap.php';

use MikoPBX\Common\Models\PbxExtensionModules;
use MikoPBX\Common\Models\PbxSettings;
use MikoPBX\Common\Providers\LanguageProvider;
use MikoPBX\Common\Providers\ModulesDBConnectionsProvider;
use MikoPBX\Core\System\Util;
use MikoPBX\Modules\PbxExtensionState;
use Modules\ModulePbxFederation\Lib\ModuleLog;
use Modules\ModulePbxFederation\Lib\ShellCommandRunner;
use Modules\ModulePbxFederation\Lib\WorkerClient;
use Modules\ModulePbxFederation\Lib\WorkerPaths;
use Modules\ModulePbxFederation\Setup\PbxExtensionSetup;
use Phalcon\Di\Di;

const MODULE_ID = 'ModulePbxFederation';

[, $mode, $zipFile] = $argv + [null, '', ''];
$expect = array_slice($argv, 3);
$facts = ['mode' => $mode, 'seconds' => []];

function fail(string $why): void
{
    global $facts;
    $facts['failed'] = $why;
    echo json_encode($facts, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE), "\n";
    exit(1);
}

function timed(string $name, callable $step)
{
    global $facts;
    $t0 = microtime(true);
    $result = $step();
    $facts['seconds'][$name] = round(microtime(true) - $t0, 3);
    return $result;
}

/** @return array{0: int, 1: string} exit code and output of a command (argv, no shell) */
function run(array $argv, int $timeout = 60): array
{
    $r = (new ShellCommandRunner())->run($argv, $timeout);
    return [$r->exitCode, trim($r->stdout . "\n" . $r->stderr)];
}

$modulesDir = (string)Di::getDefault()->getShared('config')->path('core.modulesDir');
$moduleDir = $modulesDir . '/' . MODULE_ID;
$facts['module_dir'] = $moduleDir;
if (!str_starts_with($moduleDir, '/storage/usbdisk1/mikopbx/custom_modules/')) {
    fail("core.modulesDir is $modulesDir, not the station's");
}

// WorkerModuleInstaller: unzip file by file (ZipArchive keeps no modes), as Core does.
timed('unzip', static function () use ($zipFile, $moduleDir, &$facts): void {
    $zip = new ZipArchive();
    if ($zip->open($zipFile) !== true) {
        fail("cannot open $zipFile");
    }
    $progress = dirname($moduleDir) . '/../installation_progress';
    for ($i = 0; $i < $zip->numFiles; $i++) {
        if (!$zip->extractTo($moduleDir, [$zip->getNameIndex($i)])) {
            fail('extraction failed at ' . $zip->getNameIndex($i));
        }
        file_put_contents($progress, (string)(25 + round(($i / $zip->numFiles) * 25)));
    }
    $facts['zip_entries'] = $zip->numFiles;
    $zip->close();
});
$facts['files'] = (int)trim(shell_exec('find ' . escapeshellarg($moduleDir) . ' -type f | wc -l'));
timed('core_rights', static function () use ($moduleDir): void {
    ModulesDBConnectionsProvider::recreateModulesDBConnections();
    Util::addRegularWWWRights($moduleDir);
});
// WorkerModuleInstaller: "error messages during installation are shown in the web admin language".
Di::getDefault()->set(LanguageProvider::PREFERRED_LANG_WEB, true);
$facts['language'] = PbxSettings::getValueByKey(PbxSettings::WEB_ADMIN_LANGUAGE);
$setup = new PbxExtensionSetup(MODULE_ID);
if ($mode === 'measure') {
    // installModule()'s own steps one by one (PbxExtensionSetupBase at 2026.1.223: checkCompatibility,
    // activateLicense (free module: nothing), installFiles, installDB, fixFilesRights), each timed.
    $ok = timed('install_module', static function () use ($setup): bool {
        foreach (['checkCompatibility', 'installFiles', 'installDB', 'fixFilesRights'] as $step) {
            if (!timed($step, [$setup, $step])) {
                return false;
            }
        }
        return true;
    });
} else {
    $ok = timed('install_module', static function () use ($setup): bool {
        return $setup->installModule();
    });
}
$facts['install_ok'] = $ok;
$facts['messages'] = $setup->getMessages();
$facts['registered'] = PbxExtensionModules::findFirstByUniqid(MODULE_ID) !== null;
$paths = new WorkerPaths($moduleDir);

if ($mode === 'refuse') {
    if ($ok) {
        fail('the install was accepted');
    }
    $text = implode(' ', $setup->getMessages());
    foreach ($expect as $needle) {
        if (strpos($text, $needle) === false) {
            fail("the refusal does not say '$needle'");
        }
    }
    if ($facts['registered']) {
        fail('a refused module was registered');
    }
    echo json_encode($facts, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE), "\n";
    exit(0);
}
if (!$ok) {
    fail('installModule() refused: ' . implode(' ', $setup->getMessages()));
}
if (!$facts['registered']) {
    fail('installModule() succeeded but the module is not in m_PbxExtensionModules');
}
foreach (['bin/pbxfed', 'bin/safe.sh'] as $script) {
    if (!is_executable($moduleDir . '/' . $script)) {
        fail("$script is not executable after Core's fixFilesRights");
    }
}
// the first doctor left the worker's bytecode beside its sources (so the first start is not slower)
$facts['worker_pycache'] = count(glob($moduleDir . '/python_worker/*/__pycache__/*.pyc') ?: []);
[$code, $out] = timed('doctor_again', static function () use ($paths): array {
    return run([$paths->entryPoint(), 'doctor'], 120);
});
$report = json_decode($out, true);
if ($code !== 0 || !is_array($report) || ($report['ok'] ?? false) !== true) {
    fail("bin/pbxfed doctor after the install: exit $code: " . substr($out, -600));
}
$facts['doctor'] = ['python' => $report['python'], 'checks' => array_column($report['checks'], 'detail', 'name')];

if ($mode === 'measure') {
    // What 2024.1.114's Util::addRegularWWWRights() does (one chmod process per file and per directory, then
    // chown -R), which its installer runs twice too (after unzip and in fixFilesRights).
    timed('rights_2024_style_x2', static function () use ($moduleDir): void {
        for ($pass = 0; $pass < 2; $pass++) {
            $d = escapeshellarg($moduleDir);
            shell_exec("find $d -type d -exec chmod 755 {} \\; ; find $d -type f -exec chmod 644 {} \\; ; chown -R root:root $d");
        }
    });
    echo json_encode($facts, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE), "\n";
    exit(0);
}

// The cheap check that onBeforeModuleEnable() runs inside Core's write transaction on mikopbx.db.
[$code, $out] = timed('probe', static function () use ($paths): array {
    return run([$paths->entryPoint(), 'probe'], 30);
});
if ($code !== 0) {
    fail("bin/pbxfed probe: exit $code: $out");
}
// The admin's first peer (the worker's own CLI writes module.db, whose tables Core's installDB just created), then
// the module enabled by Core (PbxExtensionState::enableModule(): onBeforeModuleEnable() inside its transaction,
// the firewall category, onAfterModuleEnable() starting the worker).
$pbxfed = $paths->entryPoint();
foreach ([
    ['settings', 'set', '--station-name', 'moscow', '--own-patterns', '2XX'],
    ['peers', 'add', '--name', 'spb', '--host', '127.0.0.3', '--patterns', '3XX',
        '--secret', 'a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6'],
] as $words) {
    [$code, $out] = run(array_merge([$pbxfed], $words));
    if ($code !== 0) {
        fail(implode(' ', $words) . ": exit $code: $out");
    }
}
$client = new WorkerClient($paths, new ShellCommandRunner(), new ModuleLog(static function (): void {
}));
$state = new PbxExtensionState(MODULE_ID);
$enabled = timed('core_enable', static function () use ($state): bool {
    return $state->enableModule();
});
$facts['enable_messages'] = $state->getMessages();
$facts['worker_pid'] = (int)@file_get_contents($paths->pidFile());
if (!$enabled) {
    fail('PbxExtensionState::enableModule() refused: ' . json_encode($state->getMessages()));
}
if (!$client->isRunning()) {
    fail('the worker does not run after the enable: ' . @file_get_contents($paths->logFile()));
}
$status = null;
timed('until_status_applied', static function () use ($pbxfed, &$status): void {
    $deadline = microtime(true) + (float)(getenv("PBXFED_STATUS_WAIT") ?: 120);
    while (microtime(true) < $deadline) {
        [$code, $out] = run([$pbxfed, 'status', '--json'], 30);
        $decoded = json_decode($out, true);
        if ($code === 0 && is_array($decoded)) {
            foreach ($decoded['peers'] ?? [] as $peer) {
                if (($peer['name'] ?? '') === 'spb' && !empty($peer['applied'])) {
                    $status = $decoded;
                    return;
                }
            }
        }
        usleep(300000);
    }
});
if ($status === null) {
    fail('no `status` with peer spb applied within 120 s; worker log: ' . substr((string)@file_get_contents($paths->logFile()), -800));
}
$facts['status_peer'] = array_values(array_filter($status['peers'], static function (array $p): bool {
    return $p['name'] === 'spb';
}))[0];
$facts['php_sees_worker'] = ($client->status()['running'] ?? false) === true;
if (!$facts['php_sees_worker']) {
    fail('WorkerClient::status() does not see the running worker');
}
// The peer's rows in the station's mikopbx.db, written by the worker on the box's python3.
$db = new SQLite3((string)Di::getDefault()->getShared('config')->path('database.dbfile'), SQLITE3_OPEN_READONLY);
$facts['owned_rows'] = [
    'm_Providers' => (int)$db->querySingle("SELECT count(*) FROM m_Providers WHERE note LIKE 'ModulePbxFederation:%'"),
    'm_OutgoingRoutingTable' => (int)$db->querySingle("SELECT count(*) FROM m_OutgoingRoutingTable WHERE note LIKE 'ModulePbxFederation:%'"),
    'm_IncomingRoutingTable' => (int)$db->querySingle("SELECT count(*) FROM m_IncomingRoutingTable WHERE note LIKE 'ModulePbxFederation:%'"),
];
$db->close();
if (in_array(0, $facts['owned_rows'], true)) {
    fail('the worker did not write the peer\'s provider and routes into mikopbx.db');
}
$reloads = (string)@file_get_contents(dirname($modulesDir) . '/reload-calls.log');
$facts['reload_calls'] = array_values(array_filter(explode("\n", $reloads)));
if (strpos($reloads, $moduleDir . '/Lib/ReloadCore.php') === false) {
    fail('the worker did not ask for Core\'s reload (Lib/ReloadCore.php)');
}
$client->stop();
$facts['stopped'] = !$client->isRunning();
if (!$facts['stopped']) {
    fail('the worker still runs after bin/pbxfed stop');
}
echo json_encode($facts, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE), "\n";
