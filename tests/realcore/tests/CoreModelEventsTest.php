<?php
/*
 * How Core learns of a change (2026.1.223), run for real: a record saved or deleted through Core's own
 * models in this process (a separate PHP process, as a module's PHP entry would be) publishes
 * ModelsBase::sendChangesToBackend's job on WorkerModelsEvents' tube; Core's real WorkerModelsEvents turns
 * that job into its reload plan (its private planning methods driven through reflection; no reload runs).
 * The same job built by hand (what a non-PHP writer would publish) plans the same actions. These are the
 * facts the module's apply step must reproduce for every row it writes into mikopbx.db.
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
use MikoPBX\Core\Workers\Libs\WorkerModelsEvents\Actions as A;
use MikoPBX\Core\Workers\WorkerModelsEvents;
use PbxFedRealCore\RealCore;
use PbxFedRealCore\RealCoreTestCase;

final class CoreModelEventsTest extends RealCoreTestCase
{
    private const TUBE = 'MikoPBX-Core-Workers-WorkerModelsEvents';

    /** @return list<array<string, mixed>> the jobs now waiting, decoded as WorkerModelsEvents decodes them; the tube is emptied */
    private static function takeJobs(): array
    {
        $jobs = [];
        foreach (RealCore::tubeJobs(self::TUBE) as $raw) {
            $jobs[] = json_decode(unserialize($raw, ['allowed_classes' => false]), true, 512, JSON_THROW_ON_ERROR);
        }
        RealCore::drainBeanstalk();
        return $jobs;
    }

    /** The reload actions Core's WorkerModelsEvents plans for these jobs (its own code, nothing executed). */
    private static function plan(array $jobs): array
    {
        $ref = new ReflectionClass(WorkerModelsEvents::class);
        $worker = $ref->newInstanceWithoutConstructor();
        $di = new ReflectionProperty(Phalcon\Di\Injectable::class, 'container');
        $init = $ref->getMethod('initializeWorker');
        $init->invoke($worker);
        $fill = $ref->getMethod('fillModifiedTables');
        foreach ($jobs as $job) {
            $fill->invoke($worker, $job);
        }
        $planned = $ref->getProperty('plannedReloadActions')->getValue($worker);
        $modified = $ref->getProperty('modifiedModels')->getValue($worker);
        unset($di);
        $actions = array_keys($planned);
        sort($actions);
        return [$actions, array_keys($modified)];
    }

    private static function short(array $classes): array
    {
        $out = array_map(static fn (string $c) => substr($c, strrpos($c, '\\') + 1), $classes);
        sort($out);
        return $out;
    }

    private static function save(object $model): void
    {
        self::assertTrue($model->save(), get_class($model) . ': ' . implode('; ', array_map('strval', $model->getMessages())));
    }

    public function testEachModelsSaveAndItsReloadPlan(): void
    {
        RealCore::drainBeanstalk();
        $uid = 'SIP-TRUNK-0123456789';
        $cases = [];

        $sip = new Sip();
        $sip->uniqid = $uid;
        $sip->type = 'friend';
        $sip->registration_type = 'none';
        $sip->host = '127.0.0.3';
        $sip->port = '5060';
        $sip->transport = 'udp';
        $sip->description = 'ModulePbxFederation: spb';
        $sip->disabled = '0';
        self::save($sip);
        $cases['Sip'] = [self::takeJobs(), ['ReloadAdviceAction', 'ReloadDialplanAction', 'ReloadFirewallAction', 'ReloadPJSIPAction', 'ReloadRecordingSettingsAction']];

        $provider = new Providers();
        $provider->uniqid = $uid;
        $provider->type = 'SIP';
        $provider->sipuid = $uid;
        $provider->note = 'ModulePbxFederation: spb';
        self::save($provider);
        $cases['Providers'] = [self::takeJobs(), []];

        $host = new SipHosts();
        $host->provider_id = $uid;
        $host->address = '127.0.0.3';
        self::save($host);
        $cases['SipHosts'] = [self::takeJobs(), ['ReloadFirewallAction', 'ReloadPJSIPAction']];

        $out = new OutgoingRoutingTable();
        $out->rulename = 'ModulePbxFederation: spb 3XX';
        $out->providerid = $uid;
        $out->priority = '50';
        $out->numberbeginswith = '3';
        $out->restnumbers = '2';
        $out->trimfrombegin = '0';
        self::save($out);
        $cases['OutgoingRoutingTable'] = [self::takeJobs(), ['ReloadDialplanAction']];

        $in = new IncomingRoutingTable();
        $in->rulename = 'ModulePbxFederation: spb';
        $in->provider = $uid;
        $in->priority = '50';
        $in->extension = 'did2user';
        $in->timeout = '120';
        self::save($in);
        $cases['IncomingRoutingTable'] = [self::takeJobs(), ['ReloadDialplanAction']];

        $filter = new NetworkFilters();
        $filter->permit = '127.0.0.3/32';
        $filter->deny = '0.0.0.0/0';
        $filter->description = 'ModulePbxFederation: spb';
        self::save($filter);
        $cases['NetworkFilters'] = [self::takeJobs(), ['ReloadAdviceAction', 'ReloadDockerNetworkFiltersAction', 'ReloadFirewallAction', 'ReloadManagerAction', 'ReloadPJSIPAction']];

        $rule = new FirewallRules();
        $rule->networkfilterid = (string)$filter->id;
        $rule->protocol = 'tcp';
        $rule->portfrom = '7787';
        $rule->portto = '7787';
        $rule->action = 'allow';
        $rule->category = 'ModulePbxFederation';
        self::save($rule);
        $cases['FirewallRules'] = [self::takeJobs(), ['ReloadFirewallAction']];

        $file = new CustomFiles();
        $file->filepath = '/etc/asterisk/asterisk.conf';
        $file->mode = 'append';
        $file->content = base64_encode("entityid=02:00:00:00:00:01\n");
        $file->changed = '1';
        $file->description = 'ModulePbxFederation: entity ID';
        self::save($file);
        $cases['CustomFiles'] = [self::takeJobs(), ['ApplyCustomFilesAction', 'ReloadPBXCoreAction']];

        $report = [];
        foreach ($cases as $model => [$jobs, $expected]) {
            self::assertCount(1, $jobs, "$model: one job per save");
            $job = $jobs[0];
            self::assertSame('ModelsBase->sendChangesToBackend', $job['source']);
            self::assertSame('MikoPBX\\Common\\Models\\' . $model, $job['model']);
            self::assertSame('afterSave', $job['action']);
            self::assertNotEmpty($job['recordId']);
            [$actions, $modified] = self::plan($jobs);
            $report[$model] = self::short($actions);
            self::assertSame($expected, self::short($actions), "$model plans");
            self::assertSame([$job['model']], $modified, "$model: its settings are refreshed before the reload");
        }

        // Deleting the provider's m_Sip row: an afterDelete job listing every column, same plan as a save.
        self::assertTrue($sip->delete());
        $jobs = self::takeJobs();
        $sipJobs = array_values(array_filter($jobs, static fn ($j) => $j['model'] === Sip::class));
        self::assertCount(1, $sipJobs);
        self::assertSame('afterDelete', $sipJobs[0]['action']);
        self::assertContains('uniqid', $sipJobs[0]['changedFields']);
        self::assertSame($cases['Sip'][1], self::short(self::plan($sipJobs)[0]));
    }

    public function testAHandBuiltJobPlansWhatTheModelsJobPlans(): void
    {
        RealCore::drainBeanstalk();
        $host = new SipHosts();
        $host->provider_id = 'SIP-TRUNK-ABCDEF0123';
        $host->address = '127.0.0.9';
        self::save($host);
        $fromModel = self::takeJobs();

        // What any other writer would publish: the same JSON, PHP-serialized, on the same tube.
        $queue = RealCore::beanstalk();
        $queue->useTube(self::TUBE);
        $queue->put(serialize(json_encode([
            'source' => 'ModelsBase->sendChangesToBackend',
            'model' => SipHosts::class,
            'recordId' => (string)$host->id,
            'action' => 'afterSave',
            'changedFields' => ['provider_id', 'address'],
        ])));
        $byHand = self::takeJobs();
        self::assertCount(1, $byHand);
        self::assertSame(self::plan($fromModel), self::plan($byHand));
        self::assertSame(array_keys($fromModel[0]), array_keys($byHand[0]));
    }

    public function testInvokeActionPublishesAnActionJobThatRefreshesNothing(): void
    {
        RealCore::drainBeanstalk();
        WorkerModelsEvents::invokeAction(A\ReloadDialplanAction::class);
        $jobs = self::takeJobs();
        self::assertCount(1, $jobs);
        self::assertSame('WorkerModelsEvents->invokeAction', $jobs[0]['source']);
        self::assertSame(A\ReloadDialplanAction::class, $jobs[0]['action']);
        self::assertSame('', $jobs[0]['model']);
        // fillModifiedTables ignores it (no model); processModelChanges plans the action itself, and no
        // model is marked for a settings refresh: the long-lived worker's cached config objects stay as they are.
        [$actions, $modified] = self::plan($jobs);
        self::assertSame([], $actions);
        self::assertSame([], $modified);
    }
}
