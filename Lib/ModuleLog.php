<?php
/*
 * ModulePbxFederation: federation of MikoPBX stations.
 * Licensed under the GNU General Public License v3 or later.
 */

namespace Modules\ModulePbxFederation\Lib;

/**
 * Writes the module's log lines to the station's syslog (Core's SystemMessages when present).
 */
class ModuleLog
{
    public const IDENT = 'ModulePbxFederation';

    /** @var callable|null */
    private $sink;

    /**
     * @param callable|null $sink function (string $message, int $level): void; tests pass a collector
     */
    public function __construct(?callable $sink = null)
    {
        $this->sink = $sink;
    }

    public function warning(string $message): void
    {
        $this->write($message, LOG_WARNING);
    }

    public function error(string $message): void
    {
        $this->write($message, LOG_ERR);
    }

    public function info(string $message): void
    {
        $this->write($message, LOG_INFO);
    }

    private function write(string $message, int $level): void
    {
        if ($this->sink !== null) {
            ($this->sink)($message, $level);
            return;
        }
        $systemMessages = 'MikoPBX\\Core\\System\\SystemMessages';
        if (class_exists($systemMessages)) {
            $systemMessages::sysLogMsg(self::IDENT, $message, $level);
            return;
        }
        error_log(self::IDENT . ': ' . $message);
    }
}
