<?php
// Test stand-in for MikoPBX Core's ReloadFirewallAction.

namespace MikoPBX\Core\Workers\Libs\WorkerModelsEvents\Actions;

class ReloadFirewallAction
{
    public function execute(array $parameters = []): void
    {
    }
}
