<?php
// Test stand-in for MikoPBX Core's ReloadManagerAction.

namespace MikoPBX\Core\Workers\Libs\WorkerModelsEvents\Actions;

class ReloadManagerAction
{
    public function execute(array $parameters = []): void
    {
    }
}
