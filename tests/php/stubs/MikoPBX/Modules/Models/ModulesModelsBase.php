<?php
// Test stand-in for MikoPBX Core's ModulesModelsBase (a Phalcon model in Core).

namespace MikoPBX\Modules\Models;

abstract class ModulesModelsBase
{
    private string $source = '';

    public function initialize(): void
    {
    }

    protected function setSource(string $source): void
    {
        $this->source = $source;
    }

    public function getSource(): string
    {
        return $this->source;
    }
}
