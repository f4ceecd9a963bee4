<?php
/*
 * Core learns of the worker's writes the way it learns of its own (issue 11, decision (b) of docs/applier.md
 * "Telling Core"). The real worker (bin/pbxfed apply, the chroot's python3) writes a peer's rows into the run's
 * mikopbx.db in one transaction and then runs Lib/ReloadCore.php, which publishes the model-change messages with
 * Core's own queue client; Core's real WorkerModelsEvents plans from them (its planning code, nothing executed) and
 * that plan is compared with the plan of a manual save: the same rows saved through Core's models.
 * Core's extensions.conf then carries every new peer's [<U>-incoming] context, also for a peer added after the
 * first apply, rendered by the config objects a long-lived WorkerModelsEvents keeps and refreshes.
 * 2024.1 (PHP 7.4 + Phalcon 4) cannot run here: its caching path is checked against its source.
 */

declare(strict_types=1);

use MikoPBX\Common\Models\CustomFiles;
use MikoPBX\Common\Models\FirewallRules;
use MikoPBX\Common\Models\IncomingRoutingTable;
use MikoPBX\Common\Models\NetworkFilters;
use MikoPBX\Common\Models\OutgoingRoutingTable;
use MikoPBX\Common\Models\Providers;
use MikoPBX\Common\Models\Sip;
use MikoPBX\Common\Models\SipHosts;
use MikoPBX\Core\Asterisk\Configs\ExtensionsConf;
use PbxFedRealCore\RealCore;
use PbxFedRealCore\RealCoreTestCase;

final class CoreEventsTest extends RealCoreTestCase
{
    private const SECRET = 'Spb-Trunk-Secret-0123456789abcdef';

    /** Model classes in the order a manual save creates them (a firewall rule names its filter). */
    private const MODELS = [
        'm_Providers' => Providers::class,
        'm_Sip' => Sip::class,
        'm_SipHosts' => SipHosts::class,
        'm_OutgoingRoutingTable' => OutgoingRoutingTable::class,
        'm_IncomingRoutingTable' => IncomingRoutingTable::class,
        'm_NetworkFilters' => NetworkFilters::class,
        'm_FirewallRules' => FirewallRules::class,
        'm_CustomFiles' => CustomFiles::class,
    ];

    public static function setUpBeforeClass(): void
    {
        parent::setUpBeforeClass();
        RealCore::installAndEnable();
        self::worker(['settings', 'set', '--station-name', 'moscow', '--own-patterns', '2XX']);
        self::worker(['peers', 'add', '--name', 'spb', '--host', '127.0.0.3', '--patterns', '3XX',
            '--secret', '-'], self::SECRET);
        // A paired peer also gets the sync port's firewall rule (pairing sets the flag; set here directly).
        $db = new SQLite3(RealCore::moduleDir() . '/db/module.db');
        $db->exec("UPDATE m_ModulePbxFederationPeers SET paired = 1 WHERE name = 'spb'");
        $db->close();
    }

    /** @param list<string> $args */
    private static function worker(array $args, ?string $stdin = null): string
    {
        [$rc, $out, $err] = RealCore::pbxfed($args, 120, [], $stdin);
        self::assertSame(0, $rc, 'bin/pbxfed ' . implode(' ', $args) . ": $out\n$err");
        return $out;
    }

    /** @return array<string, mixed> the apply's JSON report */
    private static function apply(): array
    {
        $report = json_decode(self::worker(['apply', '--json']), true, 512, JSON_THROW_ON_ERROR);
        self::assertSame('applied', $report['result'], json_encode($report));
        return $report;
    }

    /** @return list<array<string, mixed>> */
    private static function modelJobs(array $jobs): array
    {
        return array_values(array_filter($jobs, static fn (array $j) => $j['source'] === 'ModelsBase->sendChangesToBackend'));
    }

    /** @return list<string> each job as "<Model> <action> <sorted fields>" (ids left out) */
    private static function shapes(array $jobs): array
    {
        $out = [];
        foreach (self::modelJobs($jobs) as $job) {
            $fields = $job['changedFields'];
            if (array_is_list($fields)) {
                sort($fields);
            } else {
                ksort($fields);
            }
            $out[] = substr($job['model'], strrpos($job['model'], '\\') + 1) . ' ' . $job['action'] . ' ' . json_encode($fields);
        }
        sort($out);
        return $out;
    }

    /** @return array<string, list<array<string, mixed>>> every module row now in mikopbx.db, by table */
    private static function moduleRows(): array
    {
        $db = new SQLite3(RealCore::mikopbxDb(), SQLITE3_OPEN_READONLY);
        $where = [
            'm_Providers' => "note LIKE 'ModulePbxFederation:%'",
            // Core names its own providers SIP-TRUNK-<hex> too (the default DB has one): ours are the marked ones.
            'm_Sip' => "uniqid IN (SELECT uniqid FROM m_Providers WHERE note LIKE 'ModulePbxFederation:%')",
            'm_SipHosts' => "provider_id IN (SELECT uniqid FROM m_Providers WHERE note LIKE 'ModulePbxFederation:%')",
            'm_OutgoingRoutingTable' => "note LIKE 'ModulePbxFederation:%'",
            'm_IncomingRoutingTable' => "note LIKE 'ModulePbxFederation:%'",
            'm_NetworkFilters' => "description LIKE 'ModulePbxFederation:%'",
            'm_FirewallRules' => "description LIKE 'ModulePbxFederation:%'",
            'm_CustomFiles' => "description LIKE 'ModulePbxFederation:%'",
        ];
        $rows = [];
        foreach ($where as $table => $cond) {
            $res = $db->query("SELECT * FROM $table WHERE $cond ORDER BY id");
            while ($r = $res->fetchArray(SQLITE3_ASSOC)) {
                $rows[$table][] = $r;
            }
        }
        $db->close();
        return $rows;
    }

    /** The value as the model's typed property takes it (Core 2026.1 types some, e.g. Sip::$qualifyfreq ?int). */
    private static function typed(object $model, string $column, mixed $value): mixed
    {
        if ($value === null || !property_exists($model, $column)) {
            return $value;
        }
        $type = (new ReflectionProperty($model, $column))->getType();
        $name = $type instanceof ReflectionNamedType ? $type->getName() : 'string';
        return match ($name) {
            'int' => (int)$value,
            'float' => (float)$value,
            'bool' => (bool)$value,
            default => (string)$value,
        };
    }

    public function testAnApplyMakesCorePlanWhatAManualSaveOfTheSameRowsPlans(): void
    {
        RealCore::drainBeanstalk();
        $report = self::apply();
        self::assertSame(['pjsip', 'dialplan', 'firewall'], $report['reload']);
        $fromWorker = RealCore::takeJobs();
        self::assertNotSame([], self::modelJobs($fromWorker), 'ReloadCore.php published the model jobs');
        [$workerPlan, $workerModified] = RealCore::plan($fromWorker);
        [$rowsPlan] = RealCore::plan(self::modelJobs($fromWorker));

        // The manual save: the same rows, removed behind Core's back, saved again through Core's models.
        $rows = self::moduleRows();
        self::assertSame(array_keys(self::MODELS), array_keys($rows), 'the worker wrote a row of each table');
        $db = new SQLite3(RealCore::mikopbxDb());
        foreach ($rows as $table => $list) {
            foreach ($list as $r) {
                $db->exec("DELETE FROM $table WHERE id = " . (int)$r['id']);
            }
        }
        $db->close();
        RealCore::bootDi();
        RealCore::drainBeanstalk();
        $filterIds = [];
        foreach (self::MODELS as $table => $class) {
            foreach ($rows[$table] as $r) {
                $model = new $class();
                foreach ($r as $column => $value) {
                    if ($column !== 'id') {
                        $model->$column = self::typed($model, $column, $value);
                    }
                }
                if ($table === 'm_FirewallRules') {
                    $model->networkfilterid = (string)$filterIds[$r['networkfilterid']];
                }
                self::assertTrue($model->save(), "$class: " . implode('; ', array_map('strval', $model->getMessages())));
                if ($table === 'm_NetworkFilters') {
                    $filterIds[$r['id']] = $model->id;
                }
            }
        }
        $manual = RealCore::takeJobs();
        [$manualPlan, $manualModified] = RealCore::plan($manual);

        // The same messages (model, action, fields) and so the same plan, Core's model-driven reloads included.
        self::assertSame(self::shapes($manual), self::shapes($fromWorker));
        self::assertSame($manualPlan, $rowsPlan);
        self::assertSame($manualPlan, $workerPlan, 'the actions asked for the hook texts add nothing Core would not plan');
        self::assertSame($manualModified, $workerModified);
        foreach (['ReloadPJSIPAction', 'ReloadDialplanAction', 'ReloadFirewallAction', 'ReloadRecordingSettingsAction',
                     'ReloadAdviceAction', 'ReloadManagerAction', 'ReloadDockerNetworkFiltersAction',
                     'ApplyCustomFilesAction', 'ReloadPBXCoreAction'] as $action) {
            self::assertContains($action, $workerPlan);
        }
        self::assertContains(Sip::class, $workerModified);
    }

    #[\PHPUnit\Framework\Attributes\Depends('testAnApplyMakesCorePlanWhatAManualSaveOfTheSameRowsPlans')]
    public function testAPeerAddedAfterTheFirstApplyGetsItsIncomingContextFromTheLongLivedConfigObjects(): void
    {
        // The long-lived WorkerModelsEvents: started before the change, its DI-shared SIPConf has read its providers.
        $worker = RealCore::modelsEventsWorker();
        RealCore::refreshSettings($worker);
        (new ExtensionsConf())->generateConfig();
        $etc = RealCore::settings()['asterisk']['astetcdir'];
        $before = (string)file_get_contents("$etc/extensions.conf");

        RealCore::drainBeanstalk();
        self::worker(['peers', 'add', '--name', 'nsk', '--host', '127.0.0.4', '--patterns', '4XX',
            '--secret', '-'], strrev(self::SECRET));
        self::apply();
        [$actions, $modified] = RealCore::plan(RealCore::takeJobs(), $worker);
        self::assertContains('ReloadDialplanAction', $actions);
        self::assertContains(Sip::class, $modified);
        // What startReload() does before ReloadDialplanAction (ExtensionsConf::reload(): a new ExtensionsConf whose
        // contexts come from the DI-shared SIPConf through the hooks).
        RealCore::refreshSettings($worker);
        (new ExtensionsConf())->generateConfig();
        $after = (string)file_get_contents("$etc/extensions.conf");
        $db = new SQLite3(RealCore::mikopbxDb(), SQLITE3_OPEN_READONLY);
        $uids = [];
        $res = $db->query("SELECT uniqid FROM m_Providers WHERE note LIKE 'ModulePbxFederation:%' ORDER BY uniqid");
        while ($r = $res->fetchArray(SQLITE3_NUM)) {
            $uids[] = $r[0];
        }
        $db->close();
        self::assertCount(2, $uids);
        foreach ($uids as $uid) {
            self::assertStringContainsString("[$uid-incoming]", $after);
            self::assertStringContainsString("[$uid-incoming-custom]", $after, 'the module\'s hook text is in place');
        }
        self::assertSame(1, count(array_filter($uids, static fn ($u) => strpos($before, "[$u-incoming]") === false)),
            'one context is new');
    }

    /**
     * 2024.1.114, read from its source (it needs PHP 7.4 + Phalcon 4): its SIPConf renders [<provider>-incoming]
     * from providers read once per object and re-read only through getNewSettingsForDependentModules, which
     * fillModifiedTables calls at once for each model job of a model in SIPConf::getDependenceModels(). The
     * worker's apply of a new peer publishes such a job (a Sip save), shaped as 2024.1 decodes it.
     */
    #[\PHPUnit\Framework\Attributes\Depends('testAPeerAddedAfterTheFirstApplyGetsItsIncomingContextFromTheLongLivedConfigObjects')]
    public function testOn2024TheSipJobIsWhatRefreshesTheCachedProviders(): void
    {
        $old = RealCore::oldCoreDir() . '/src';
        $sipConf = (string)file_get_contents("$old/Core/Asterisk/Configs/SIPConf.php");
        self::assertMatchesRegularExpression(
            '/function getDependenceModels\(\): array\s*\{\s*return \[Sip::class, Users::class, SipHosts::class\];/', $sipConf);
        self::assertMatchesRegularExpression(
            '/function extensionGenContexts\(\): string\s*\{\s*if \(\$this->data_peers === null\) \{\s*\$this->getSettings\(\);\s*\}/', $sipConf);
        self::assertMatchesRegularExpression('/foreach \(\$this->data_providers as \$provider\)/', $sipConf);
        $wme = (string)file_get_contents("$old/Core/Workers/WorkerModelsEvents.php");
        self::assertMatchesRegularExpression(
            '/function fillModifiedTables\(array \$data\): void\s*\{.*?ModelsBase::clearCache\(\$modifiedModel\);\s*'
            . '(\/\/[^\n]*\s*)?\$this->getNewSettingsForDependentModules\(\$modifiedModel\);/s', $wme);
        self::assertMatchesRegularExpression(
            "/SOURCE_MODELS_CHANGED\) \{\s*(\/\/[^\n]*\s*)?\\\$this->fillModifiedTables\(\\\$receivedMessage\);/", $wme);
        $provider = (string)file_get_contents("$old/Common/Providers/BeanstalkConnectionModelsProvider.php");
        self::assertStringContainsString("SOURCE_MODELS_CHANGED = 'ModelsBase->sendChangesToBackend'", $provider);
        self::assertStringContainsString('new BeanstalkClient(WorkerModelsEvents::class)', $provider);
        $client = (string)file_get_contents("$old/Core/System/BeanstalkClient.php");
        self::assertMatchesRegularExpression('/function publish\(.*?\$job_data = serialize\(\$job_data\);/s', $client);

        // And the worker's new peer came with a Sip save on that tube, in that format.
        self::worker(['peers', 'add', '--name', 'ekb', '--host', '127.0.0.5', '--patterns', '5XX',
            '--secret', '-'], 'Ekb-Trunk-Secret-0123456789abcdef');
        RealCore::drainBeanstalk();
        self::apply();
        $sipJobs = array_values(array_filter(RealCore::takeJobs(),
            static fn (array $j) => ($j['model'] ?? '') === Sip::class && $j['action'] === 'afterSave'));
        self::assertCount(1, $sipJobs);
        self::assertSame('ModelsBase->sendChangesToBackend', $sipJobs[0]['source']);
        self::assertContains('uniqid', $sipJobs[0]['changedFields']);
    }
}
