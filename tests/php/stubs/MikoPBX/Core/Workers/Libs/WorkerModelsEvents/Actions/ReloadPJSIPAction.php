<?php
// Test stand-in for MikoPBX Core's ReloadPJSIPAction.

namespace MikoPBX\Core\Workers\Libs\WorkerModelsEvents\Actions;

class ReloadPJSIPAction
{
    public function execute(array $parameters = []): void
    {
    }
}
