<?php
/*
 * ModulePbxFederation: federation of MikoPBX stations.
 * Licensed under the GNU General Public License v3 or later.
 */

namespace Modules\ModulePbxFederation\Lib;

/**
 * Asks Core to regenerate and reload pjsip, dialplan, firewall and manager.conf. Class names checked against
 * MikoPBX Core tags 2024.1.114 and 2026.1.223 (identical in both):
 * WorkerModelsEvents::invokeAction() queues the same actions Core runs after its own model saves;
 * PBX::sipReload()/dialplanReload() (deprecated, still present) are the synchronous fallback.
 */
final class CoreReloader
{
    public const WORKER_MODELS_EVENTS = 'MikoPBX\\Core\\Workers\\WorkerModelsEvents';
    public const ACTIONS = [
        'pjsip'    => 'MikoPBX\\Core\\Workers\\Libs\\WorkerModelsEvents\\Actions\\ReloadPJSIPAction',
        'dialplan' => 'MikoPBX\\Core\\Workers\\Libs\\WorkerModelsEvents\\Actions\\ReloadDialplanAction',
        'firewall' => 'MikoPBX\\Core\\Workers\\Libs\\WorkerModelsEvents\\Actions\\ReloadFirewallAction',
        // The worker's AMI account (m_AsteriskManagerUsers): ManagerConf::reload() at both tags.
        'manager'  => 'MikoPBX\\Core\\Workers\\Libs\\WorkerModelsEvents\\Actions\\ReloadManagerAction',
    ];
    public const PBX = 'MikoPBX\\Core\\System\\PBX';
    public const IPTABLES = 'MikoPBX\\Core\\System\\Configs\\IptablesConf';

    /** @var ModuleLog */
    private $log;

    public function __construct(ModuleLog $log)
    {
        $this->log = $log;
    }

    /**
     * @param string[] $what any of pjsip, dialplan, firewall, manager
     * @return string[] how each was reloaded ("queued:pjsip", "direct:dialplan", "unavailable:firewall")
     */
    public function reload(array $what = ['pjsip', 'dialplan', 'firewall']): array
    {
        $done = [];
        foreach ($what as $target) {
            if (!isset(self::ACTIONS[$target])) {
                $this->log->warning("unknown reload target '$target'");
                continue;
            }
            $done[] = $this->reloadOne($target);
        }
        return $done;
    }

    private function reloadOne(string $target): string
    {
        $events = self::WORKER_MODELS_EVENTS;
        $action = self::ACTIONS[$target];
        if (class_exists($events) && method_exists($events, 'invokeAction') && class_exists($action)) {
            $events::invokeAction($action);
            return "queued:$target";
        }
        $pbx = self::PBX;
        $iptables = self::IPTABLES;
        if ($target === 'pjsip' && class_exists($pbx) && method_exists($pbx, 'sipReload')) {
            $pbx::sipReload();
            return "direct:$target";
        }
        if ($target === 'dialplan' && class_exists($pbx) && method_exists($pbx, 'dialplanReload')) {
            $pbx::dialplanReload();
            return "direct:$target";
        }
        if ($target === 'firewall' && class_exists($iptables) && method_exists($iptables, 'reloadFirewall')) {
            $iptables::updateFirewallRules();
            $iptables::reloadFirewall();
            return "direct:$target";
        }
        $this->log->error("cannot reload $target: no Core reload entry point found");
        return "unavailable:$target";
    }
}
