<?php
// Test stand-in for MikoPBX Core's ReloadDialplanAction.

namespace MikoPBX\Core\Workers\Libs\WorkerModelsEvents\Actions;

class ReloadDialplanAction
{
    public function execute(array $parameters = []): void
    {
    }
}
