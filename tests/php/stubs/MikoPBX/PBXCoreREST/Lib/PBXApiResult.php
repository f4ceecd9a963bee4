<?php
// Test stand-in for MikoPBX Core's PBXApiResult.

namespace MikoPBX\PBXCoreREST\Lib;

class PBXApiResult
{
    public bool $success = false;
    public array $data = [];
    public array $messages = [];
    public string $processor = '';
    public string $function = '';

    public function getResult(): array
    {
        return [
            'result' => $this->success,
            'data' => $this->data,
            'messages' => $this->messages,
            'function' => $this->function,
            'processor' => $this->processor,
        ];
    }
}
