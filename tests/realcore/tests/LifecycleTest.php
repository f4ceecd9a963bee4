<?php
/*
 * The module's lifecycle as Core 2026.1.223 drives it, with Core's own entry points (EnableModuleAction,
 * DisableModuleAction, UninstallModuleAction, ModuleInstallationBase::startModuleInstallation, the Setup's
 * uninstallModule) and the real worker (bin/pbxfed on the chroot's python3):
 *  - enable: Core writes the module's firewall category, the worker starts and applies; Core's rows of that
 *    category on the worker's filters are taken over;
 *  - disable: every owned row removed, the worker stopped, cron's safe.sh does not start it again, a second call
 *    (Core's WorkerModelsEvents calls the hook again) changes nothing;
 *  - upgrade (disable -> uninstall keeping settings -> install -> enable): the peers and the very trunk rows stay;
 *  - uninstall without a disable first (2024.1's order: its disable hook comes later or never) and with or
 *    without keeping settings: unInstallDB() removes every owned row before the files go;
 *  - the PHP removal (when the worker cannot run) removes exactly what the worker's disable removes.
 */

declare(strict_types=1);

use MikoPBX\Common\Models\PbxExtensionModules;
use MikoPBX\Common\Providers\PBXConfModulesProvider;
use MikoPBX\PBXCoreREST\Lib\Modules\DisableModuleAction;
use MikoPBX\PBXCoreREST\Lib\Modules\EnableModuleAction;
use MikoPBX\PBXCoreREST\Lib\Modules\ModuleInstallationBase;
use Modules\ModulePbxFederation\Lib\CommandResult;
use Modules\ModulePbxFederation\Lib\CommandRunner;
use Modules\ModulePbxFederation\Lib\ModuleLog;
use Modules\ModulePbxFederation\Lib\OwnedRecords;
use Modules\ModulePbxFederation\Lib\PbxFederationConf;
use Modules\ModulePbxFederation\Lib\WorkerClient;
use Modules\ModulePbxFederation\Lib\WorkerPaths;
use Modules\ModulePbxFederation\Setup\PbxExtensionSetup;
use PbxFedRealCore\RealCore;
use PbxFedRealCore\RealCoreTestCase;

final class LifecycleTest extends RealCoreTestCase
{
    private const ID = RealCore::MODULE_ID;
    private const TABLES = ['m_Providers', 'm_Sip', 'm_SipHosts', 'm_OutgoingRoutingTable', 'm_IncomingRoutingTable',
        'm_NetworkFilters', 'm_FirewallRules', 'm_CustomFiles', 'm_OutWorkTimesRouts'];

    public static function setUpBeforeClass(): void
    {
        parent::setUpBeforeClass();
        RealCore::provideWorkerRuntime();
        $setup = new PbxExtensionSetup(self::ID);
        self::assertTrue($setup->installDB());
        self::configure();
    }

    public static function tearDownAfterClass(): void
    {
        RealCore::stopWorker();
        parent::tearDownAfterClass();
    }

    private static function configure(): void
    {
        // The secret on stdin (`--secret -`), as the admin form passes it: never in the process arguments.
        foreach ([[['settings', 'set', '--station-name', 'moscow', '--own-patterns', '2XX'], null],
                     [['peers', 'add', '--name', 'spb', '--host', '127.0.0.3', '--patterns', '3XX', '--secret', '-'],
                         'Spb-Trunk-Secret-0123456789abcdef']] as [$args, $stdin]) {
            [$rc, $out, $err] = RealCore::pbxfed($args, 120, [], $stdin);
            self::assertSame(0, $rc, "$out\n$err");
        }
        $db = new SQLite3(RealCore::moduleDir() . '/db/module.db');
        $db->exec("UPDATE m_ModulePbxFederationPeers SET paired = 1 WHERE name = 'spb'");
        $db->close();
    }

    /** @return list<array<string, mixed>> */
    private static function query(string $sql): array
    {
        $db = new SQLite3(RealCore::mikopbxDb(), SQLITE3_OPEN_READONLY);
        $db->busyTimeout(5000);
        $res = $db->query($sql);
        $rows = [];
        while ($r = $res->fetchArray(SQLITE3_ASSOC)) {
            $rows[] = $r;
        }
        $db->close();
        return $rows;
    }

    /** The provider row of the peer: [id, uniqid], or [] when there is none. */
    private static function trunk(): array
    {
        $rows = self::query("SELECT id, uniqid FROM m_Providers WHERE note LIKE 'ModulePbxFederation:%'");
        return $rows === [] ? [] : [$rows[0]['id'], $rows[0]['uniqid']];
    }

    /** How many rows of each table the module owns. */
    private static function owned(): array
    {
        $rows = (new OwnedRecords(new WorkerPaths(RealCore::moduleDir()), new ModuleLog()))->find();
        return array_map('count', $rows);
    }

    private static function waitFor(callable $check, float $seconds, string $what): void
    {
        $deadline = microtime(true) + $seconds;
        while (!$check()) {
            self::assertLessThan($deadline, microtime(true), "timed out after {$seconds}s waiting for $what");
            usleep(100000);
        }
    }

    private static function running(): bool
    {
        return RealCore::pbxfed(['running'])[0] === 0;
    }

    private static function enable(): void
    {
        $res = EnableModuleAction::enableModule(self::ID);
        self::assertTrue($res->success, json_encode($res->messages));
        self::waitFor(static fn () => self::trunk() !== [] && self::running(), 60, 'the worker to start and apply');
    }

    private static function disable(): void
    {
        $res = DisableModuleAction::disableModule(self::ID);
        self::assertTrue($res->success, json_encode($res->messages));
    }

    public function testEnableStartsTheWorkerAndDisableRemovesEverything(): void
    {
        // A network filter of the admin's, so Core's enable writes our category on it.
        $db = new SQLite3(RealCore::mikopbxDb());
        $db->exec("INSERT INTO m_NetworkFilters (permit, deny, description, priority) VALUES ('127.0.8.0/24', '0.0.0.0/0', 'office', '1')");
        $db->close();

        self::enable();
        self::waitFor(static fn () => (self::owned()['m_FirewallRules'] ?? 0) === 1, 30, 'the sync port rule');
        // One category, as Core keeps it: Core's block row on the admin's filter, the worker's allow on its own.
        $rows = self::query("SELECT f.description AS filter, r.category, r.action, r.portFromKey FROM m_FirewallRules r "
            . "JOIN m_NetworkFilters f ON f.id = r.networkfilterid WHERE lower(r.category) = 'modulepbxfederation' "
            . "AND f.description IN ('office', 'ModulePbxFederation: peer spb') ORDER BY f.id");
        self::assertSame([
            ['filter' => 'office', 'category' => 'MODULEPBXFEDERATION', 'action' => 'block', 'portFromKey' => 'PbxFederationSyncPort'],
            ['filter' => 'ModulePbxFederation: peer spb', 'category' => 'MODULEPBXFEDERATION', 'action' => 'allow', 'portFromKey' => 'PbxFederationSyncPort'],
        ], $rows);
        // 2026.1: the filter sorts after the admin's regular ones.
        self::assertSame('2', self::query("SELECT priority FROM m_NetworkFilters WHERE description = 'ModulePbxFederation: peer spb'")[0]['priority']);

        self::disable();
        self::assertSame([], self::owned(), 'every owned row removed');
        self::assertFalse(self::running());
        // Cron's safe-script does not start it again while the module is disabled.
        exec('sh ' . escapeshellarg(RealCore::moduleDir() . '/bin/safe.sh') . ' 2>&1', $out, $rc);
        self::assertSame(0, $rc, implode("\n", $out));
        self::assertFalse(self::running(), 'safe.sh left the worker stopped');
        // Core calls the hook a second time (WorkerModelsEvents): nothing changes.
        PBXConfModulesProvider::recreateModulesProvider();
        (new PbxFederationConf())->onAfterModuleDisable();
        self::assertSame([], self::owned());
        self::assertFalse(self::running());
        // Enabled again, everything comes back; safe.sh then starts a stopped worker.
        self::enable();
        RealCore::stopWorker();
        exec('sh ' . escapeshellarg(RealCore::moduleDir() . '/bin/safe.sh') . ' 2>&1', $out, $rc);
        self::waitFor(static fn () => self::running(), 15, 'safe.sh to start the worker of the enabled module');
    }

    #[\PHPUnit\Framework\Attributes\Depends('testEnableStartsTheWorkerAndDisableRemovesEverything')]
    public function testAnUpgradeKeepsThePeersAndTheTrunkRows(): void
    {
        $trunk = self::trunk();
        self::assertNotSame([], $trunk);
        $before = self::owned();
        $zip = RealCore::runtime() . '/ModulePbxFederation-upgrade.zip';
        self::zipModule($zip);

        // Core's own upgrade sequence: startModuleInstallation() disables, uninstalls keeping settings and starts
        // the background installer; the module recognises the upgrade by that call.
        $installer = new class ('', self::ID) extends ModuleInstallationBase {
            public function upgrade(string $zip): \MikoPBX\PBXCoreREST\Lib\PBXApiResult
            {
                return $this->startModuleInstallation($zip);
            }
        };
        $progress = dirname($zip) . '/installation_progress';
        @unlink($progress);
        try {
            $res = $installer->upgrade($zip);
            self::assertTrue($res->success, json_encode($res->messages));
            self::assertTrue($res->data[ModuleInstallationBase::MODULE_WAS_ENABLED]);
            // The trunk rows stay; only Core's own disable step removes the rows of the module's firewall
            // category (disableFirewallSettings, saving each filter's state for the enable to restore).
            self::assertSame($trunk, self::trunk(), 'the disable and the uninstall kept the trunk');
            self::assertSame(array_diff_key($before, ['m_FirewallRules' => 0]), self::owned());
            $backup = RealCore::runtime() . '/custom_modules/Backup/' . self::ID . '/db';
            self::assertFileExists("$backup/module.db");
            self::assertFileExists("$backup/state/upgrade.json", 'the upgrade marker travels with the settings');
        } finally {
            // Core's background installer (WorkerModuleInstaller) unpacks the zip and runs installModule(); it
            // ends by itself (progress 100), whatever happened above.
            self::waitFor(static fn () => trim((string)@file_get_contents($progress)) === '100', 90,
                'Core\'s installer');
        }
        if (PbxExtensionModules::findFirstByUniqid(self::ID) === null) {
            // The install's Python step needs the box's runtime, which this harness does not build (tests/box does;
            // README "Stand-ins"): finish Core's installModule() with that one step answered.
            $error = (string)@file_get_contents(dirname($zip) . '/installation_error');
            self::assertNotSame('', $error, 'the installer says why it stopped');
            RealCore::provideWorkerRuntime();
            self::installWithTheRuntimeInPlace();
        }
        self::assertFileExists(RealCore::moduleDir() . '/db/state/upgrade.json', 'Core restored db/ from Backup');
        self::assertSame($trunk, self::trunk());
        RealCore::provideWorkerRuntime();
        RealCore::drainBeanstalk();

        // The enable Core runs after a successful install (postInstallModule on 2026.1).
        self::enable();
        self::assertSame($trunk, self::trunk(), 'the same trunk row: it was never removed');
        // Core's enable restored the category's state per filter; the worker took its row over again.
        self::waitFor(static fn () => self::owned() === $before, 30, 'the sync port rule back');
        self::assertFileDoesNotExist(RealCore::moduleDir() . '/db/state/upgrade.json');
        $actions = array_column(array_filter(RealCore::takeJobs(),
            static fn ($j) => $j['source'] === 'WorkerModelsEvents->invokeAction'), 'action');
        self::assertContains('MikoPBX\\Core\\Workers\\Libs\\WorkerModelsEvents\\Actions\\ReloadPJSIPAction', $actions);
        self::assertContains('MikoPBX\\Core\\Workers\\Libs\\WorkerModelsEvents\\Actions\\ReloadDialplanAction', $actions);
        $db = new SQLite3(RealCore::moduleDir() . '/db/module.db', SQLITE3_OPEN_READONLY);
        self::assertSame('spb', $db->querySingle('SELECT name FROM m_ModulePbxFederationPeers'));
        $db->close();
    }

    private static function zipModule(string $zip): void
    {
        $z = new ZipArchive();
        self::assertTrue($z->open($zip, ZipArchive::CREATE | ZipArchive::OVERWRITE));
        $root = RealCore::moduleDir();
        $files = new RecursiveIteratorIterator(new RecursiveDirectoryIterator($root, FilesystemIterator::SKIP_DOTS));
        foreach ($files as $file) {
            $rel = substr($file->getPathname(), strlen($root) + 1);
            if (preg_match('#^(db|venv)/#', $rel) === 1 || !$file->isFile() || is_link($file->getPathname())) {
                continue;
            }
            $z->addFile($file->getPathname(), $rel);
        }
        self::assertTrue($z->close());
    }

    /** Core's installModule() of the module's Setup, its python step answered as installed (see the caller). */
    private static function installWithTheRuntimeInPlace(): void
    {
        $setup = new PbxExtensionSetup(self::ID);
        $paths = new WorkerPaths(RealCore::moduleDir());
        $ready = new class ($paths, new class implements CommandRunner {
            public function run(array $argv, int $timeoutSeconds, ?string $stdin = null): CommandResult
            {
                return new CommandResult(0, '3.14.0', '');
            }

            public function spawn(array $argv, string $logFile): int
            {
                return 0;
            }

            public function isAlive(int $pid, string $needle): bool
            {
                return false;
            }

            public function signal(int $pid, int $signal): bool
            {
                return false;
            }
        }) extends \Modules\ModulePbxFederation\Lib\PythonEnvironment {
            public function check(): bool
            {
                return true;
            }

            public function ensure(): bool
            {
                return true;
            }

            public function doctor(): bool
            {
                return true;
            }
        };
        $setup->useCollaborators($ready, new WorkerClient($paths, new \Modules\ModulePbxFederation\Lib\ShellCommandRunner(), new ModuleLog()),
            new \Modules\ModulePbxFederation\Lib\Texts());
        self::assertTrue($setup->installModule(), implode('; ', $setup->getMessages()));
    }

    #[\PHPUnit\Framework\Attributes\Depends('testAnUpgradeKeepsThePeersAndTheTrunkRows')]
    public function testTheRemovalFromPhpRemovesWhatTheWorkersDisableRemoves(): void
    {
        self::assertNotSame([], self::owned());
        RealCore::stopWorker();
        $db = RealCore::mikopbxDb();
        $db2 = new SQLite3($db);
        // Rows Core's cascades take with ours: another category's rule on our filter, a working-hours link.
        $db2->exec("INSERT INTO m_FirewallRules (networkfilterid, protocol, portfrom, portto, category, action) "
            . "SELECT id, 'udp', '5060', '5060', 'SIP', 'allow' FROM m_NetworkFilters WHERE description LIKE 'ModulePbxFederation:%'");
        $db2->exec("INSERT INTO m_OutWorkTimesRouts (timeConditionId, routId) "
            . "SELECT 1, id FROM m_IncomingRoutingTable WHERE note LIKE 'ModulePbxFederation:%'");
        $db2->close();
        // The worker's disable on a copy (SQLite's backup), the PHP removal on the station's DB.
        $copy = "$db.copy";
        $src = new SQLite3($db);
        $dst = new SQLite3($copy);
        self::assertTrue($src->backup($dst));
        $src->close();
        $dst->close();
        [$rc, $out, $err] = RealCore::pbxfed(['disable', '--json'], 120, ['PBXFED_MIKOPBX_DB' => $copy]);
        self::assertSame(0, $rc, "$out\n$err");
        $byWorker = self::dump($copy);
        self::assertSame([], array_filter(self::dump($copy, "WHERE note LIKE 'ModulePbxFederation:%'", ['m_Providers'])));
        RealCore::drainBeanstalk();
        self::assertTrue((new OwnedRecords(new WorkerPaths(RealCore::moduleDir()), new ModuleLog()))->removeAll());
        self::assertSame($byWorker, self::dump($db), 'the same rows are left');
        self::assertSame([], self::owned());
        $models = array_unique(array_column(RealCore::takeJobs(), 'model'));
        self::assertContains('MikoPBX\\Common\\Models\\Sip', $models);
        self::assertContains('MikoPBX\\Common\\Models\\OutWorkTimesRouts', $models);
    }

    /** @return array<string, list<array<string, mixed>>> */
    private static function dump(string $file, string $where = '', array $tables = self::TABLES): array
    {
        $db = new SQLite3($file, SQLITE3_OPEN_READONLY);
        $db->busyTimeout(5000);
        $out = [];
        foreach ($tables as $t) {
            $res = $db->query("SELECT * FROM $t $where ORDER BY id");
            $out[$t] = [];
            while ($r = $res->fetchArray(SQLITE3_ASSOC)) {
                $out[$t][] = $r;
            }
        }
        $db->close();
        return $out;
    }

    /**
     * Uninstall in 2024.1's order: no disable first (its admin page disables in another request; the disable hook
     * runs later in WorkerModelsEvents, or never once the module is gone).
     *
     * @return array<string, array{0: bool}>
     */
    public static function keepSettings(): array
    {
        return ['delete' => [false], 'delete keeping settings' => [true]];
    }

    #[\PHPUnit\Framework\Attributes\Depends('testTheRemovalFromPhpRemovesWhatTheWorkersDisableRemoves')]
    #[\PHPUnit\Framework\Attributes\DataProvider('keepSettings')]
    public function testUninstallRemovesEveryOwnedRowBeforeTheFilesGo(bool $keep): void
    {
        if (!is_dir(RealCore::moduleDir())) {
            RealCore::freshStation();
            mkdir(RealCore::moduleDir() . '/db', 0755, true);
        }
        RealCore::provideWorkerRuntime();
        if (PbxExtensionModules::findFirstByUniqid(self::ID) === null) {
            self::assertTrue((new PbxExtensionSetup(self::ID))->installDB());
        }
        RealCore::setEnabled(true);  // enabled, as it was before the admin's delete; the worker is not started
        [$rc, $out, $err] = RealCore::pbxfed(['apply', '--json']);
        self::assertSame(0, $rc, "$out\n$err");
        self::assertNotSame([], self::owned());

        $setup = new PbxExtensionSetup(self::ID);
        self::assertTrue($setup->uninstallModule($keep), implode('; ', $setup->getMessages()));
        self::assertSame([], self::owned(), 'unInstallDB removed them before the files went');
        self::assertDirectoryDoesNotExist(RealCore::moduleDir());
        $backup = RealCore::runtime() . '/custom_modules/Backup/' . self::ID . '/db';
        self::assertSame($keep, is_file("$backup/module.db"));
        self::assertFileDoesNotExist("$backup/state/upgrade.json", 'no upgrade marker: this was a delete');
        self::assertNull(PbxExtensionModules::findFirstByUniqid(self::ID));
        self::reinstallFiles();  // for the next case
    }

    private static function reinstallFiles(): void
    {
        $zip = RealCore::runtime() . '/ModulePbxFederation-upgrade.zip';
        $z = new ZipArchive();
        self::assertTrue($z->open($zip) === true);
        self::assertTrue($z->extractTo(RealCore::moduleDir()));
        $z->close();
        foreach (glob(RealCore::moduleDir() . '/bin/*') as $f) {
            chmod($f, 0755);
        }
        @mkdir(RealCore::moduleDir() . '/db', 0755, true);
        RealCore::provideWorkerRuntime();
        self::assertTrue((new PbxExtensionSetup(self::ID))->installDB());
        self::configure();
    }

    public function testEnablingWithoutTheRuntimeIsRefusedWithoutRunningAnything(): void
    {
        $paths = new WorkerPaths(RealCore::moduleDir() . '-absent');
        $conf = new PbxFederationConf();
        $runner = new class implements CommandRunner {
            public array $calls = [];

            public function run(array $argv, int $timeoutSeconds, ?string $stdin = null): CommandResult
            {
                $this->calls[] = $argv;
                return new CommandResult(0, '', '');
            }

            public function spawn(array $argv, string $logFile): int
            {
                $this->calls[] = $argv;
                return 0;
            }

            public function isAlive(int $pid, string $needle): bool
            {
                return false;
            }

            public function signal(int $pid, int $signal): bool
            {
                return false;
            }
        };
        $log = new ModuleLog(static function (): void {
        });
        $conf->useCollaborators(new WorkerClient($paths, $runner, $log), $log,
            new \Modules\ModulePbxFederation\Lib\CoreReloader($log), \Modules\ModulePbxFederation\Lib\Texts::fromDi());
        self::assertFalse($conf->onBeforeModuleEnable());
        $expected = Phalcon\Di\Di::getDefault()->getShared('translation')->_('module_pbx_federation_EnableNeedsRuntime');
        self::assertNotSame('module_pbx_federation_EnableNeedsRuntime', $expected);
        self::assertSame([$expected], $conf->getMessages());
        self::assertSame([], $runner->calls, 'no process inside Core\'s transaction');

        $ready = new WorkerPaths(RealCore::moduleDir());
        RealCore::provideWorkerRuntime();
        $conf2 = new PbxFederationConf();
        $conf2->useCollaborators(new WorkerClient($ready, $runner, $log), $log,
            new \Modules\ModulePbxFederation\Lib\CoreReloader($log), \Modules\ModulePbxFederation\Lib\Texts::fromDi());
        self::assertTrue($conf2->onBeforeModuleEnable());
        self::assertSame([], $runner->calls);
    }
}
