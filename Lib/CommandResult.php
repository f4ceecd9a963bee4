<?php
/*
 * ModulePbxFederation: federation of MikoPBX stations.
 * Licensed under the GNU General Public License v3 or later.
 */

namespace Modules\ModulePbxFederation\Lib;

/**
 * What a finished command left behind.
 */
final class CommandResult
{
    /** @var int */
    public $exitCode;

    /** @var string */
    public $stdout;

    /** @var string */
    public $stderr;

    /** @var bool */
    public $timedOut;

    public function __construct(int $exitCode, string $stdout, string $stderr, bool $timedOut = false)
    {
        $this->exitCode = $exitCode;
        $this->stdout = $stdout;
        $this->stderr = $stderr;
        $this->timedOut = $timedOut;
    }

    public function isOk(): bool
    {
        return $this->exitCode === 0 && !$this->timedOut;
    }
}
