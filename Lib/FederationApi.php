<?php
/*
 * ModulePbxFederation: federation of MikoPBX stations.
 * Licensed under the GNU General Public License v3 or later.
 */

namespace Modules\ModulePbxFederation\Lib;

/**
 * The module's REST actions (/pbxcore/api/modules/ModulePbxFederation/<action>), each answered as
 * ['result' => bool, 'data' => array, 'messages' => ['error' => [...], 'warning' => [...]]].
 */
class FederationApi
{
    /** @var WorkerClient */
    private $worker;

    /** @var Texts */
    private $texts;

    /** @var string */
    private $language;

    public function __construct(WorkerClient $worker, Texts $texts, string $language = 'en')
    {
        $this->worker = $worker;
        $this->texts = $texts;
        $this->language = $language === 'ru' ? 'ru' : 'en';
    }

    /**
     * @param array<string, mixed> $request Core's request: action, data (GET/POST fields), ...
     * @return array{result: bool, data: array, messages: array}
     */
    public function handle(array $request): array
    {
        $action = strtolower((string)($request['action'] ?? ''));
        $data = is_array($request['data'] ?? null) ? $request['data'] : [];
        switch ($action) {
            case 'status':
                return $this->fromWorker($this->worker->status());
            case 'validate':
                $peer = self::peerFrom($data);
                if ($peer === null) {
                    return self::answer(false, [], ['error' => [$this->texts->get('module_pbx_federation_PeerDataMissing')]]);
                }
                return $this->validation($this->worker->validatePeer($peer));
            case 'validate-settings':
                $settings = $data['settings'] ?? null;
                if (is_string($settings)) {
                    $settings = json_decode($settings, true);
                }
                if (!is_array($settings)) {
                    return self::answer(false, [], ['error' => [$this->texts->get('module_pbx_federation_PeerDataMissing')]]);
                }
                return $this->validation($this->worker->validateSettings($settings));
            case 'apply':
                return $this->apply();
            case 'check':
                $name = trim((string)($data['name'] ?? ''));
                if ($name === '') {
                    return self::answer(false, [], ['error' => [$this->texts->get('module_pbx_federation_PeerNameMissing')]]);
                }
                return $this->fromWorker($this->worker->checkPeer($name));
            case 'invite':
                $ttl = (int)($data['ttl'] ?? 3600);
                return $this->pairing($this->worker->invite(trim((string)($data['address'] ?? '')),
                    $ttl > 0 ? $ttl : 3600, trim((string)($data['from'] ?? ''))));
            case 'accept':
                // An empty text too: the worker refuses it with its own, translated reason.
                $text = trim((string)($data['invitation'] ?? ''));
                return $this->pairing($this->worker->accept($text, trim((string)($data['address'] ?? ''))));
            case 'preview':
                return $this->fromWorker($this->worker->preview());
            default:
                return self::answer(false, [], ['error' => ["unknown action '$action' in ModulePbxFederation"]]);
        }
    }

    /**
     * @param array<string, mixed> $data
     * @return array<string, mixed>|null
     */
    public static function peerFrom(array $data): ?array
    {
        $peer = $data['peer'] ?? null;
        if (is_string($peer)) {
            $peer = json_decode($peer, true);
        }
        return is_array($peer) ? $peer : null;
    }

    /**
     * Splits the worker's problems into errors and warnings by their `severity`, each in the admin's language.
     *
     * @param array<string, mixed> $reply {"ok": bool, "problems": [{"code","field","message":{"ru","en"}}]}
     * @return array{result: bool, data: array, messages: array}
     */
    public function validation(array $reply): array
    {
        if (isset($reply['error'])) {
            return $this->fromWorker($reply);
        }
        $messages = ['error' => [], 'warning' => []];
        $problems = [];
        foreach ((array)($reply['problems'] ?? []) as $problem) {
            if (!is_array($problem)) {
                continue;
            }
            $problem['text'] = $this->problemText($problem);
            $problems[] = $problem;
            $kind = ($problem['severity'] ?? 'error') === 'warning' ? 'warning' : 'error';
            $field = (string)($problem['field'] ?? '');
            $messages[$kind][] = ($field !== '' ? $field . ': ' : '') . $problem['text'];
        }
        $ok = ($reply['ok'] ?? false) === true && $messages['error'] === [];
        return self::answer($ok, ['ok' => $ok, 'problems' => $problems], array_filter($messages));
    }

    /**
     * Text of one problem in the admin's language: the worker sends every problem in both languages (its catalog,
     * python_worker/core/problems.py, is the only one); the bare code when a text is missing.
     */
    public function problemText(array $problem): string
    {
        $message = $problem['message'] ?? null;
        if (is_array($message) && isset($message[$this->language]) && $message[$this->language] !== '') {
            return (string)$message[$this->language];
        }
        return (string)($problem['code'] ?? '');
    }

    /**
     * An invitation made or accepted: the worker's answer as data, or its problems translated.
     *
     * @param array<string, mixed> $reply
     * @return array{result: bool, data: array, messages: array}
     */
    public function pairing(array $reply): array
    {
        if (($reply['ok'] ?? false) === true) {
            return self::answer(true, $reply, []);
        }
        return $this->validation($reply);
    }

    /** @return array{result: bool, data: array, messages: array} */
    private function apply(): array
    {
        if (!$this->worker->isRunning()) {
            // A fresh worker reconciles as it starts.
            $started = $this->worker->start();
            return self::answer($started, ['started' => $started], $started ? [] : [
                'error' => [$this->texts->get('module_pbx_federation_WorkerNotRunning')],
            ]);
        }
        $result = $this->worker->reconcileNow();
        if (!$result->isOk()) {
            return self::answer(false, ['exitCode' => $result->exitCode], [
                'error' => [$this->texts->get('module_pbx_federation_WorkerFailed', ['details' => substr(trim($result->stderr), -300)])],
            ]);
        }
        return self::answer(true, ['reconciled' => true], []);
    }

    /**
     * @param array<string, mixed> $reply
     * @return array{result: bool, data: array, messages: array}
     */
    private function fromWorker(array $reply): array
    {
        if (isset($reply['error'])) {
            $keys = ['not_installed' => 'WorkerNotInstalled', 'timeout' => 'WorkerTimeout',
                'not_running' => 'WorkerStopped'];
            // A worker command that found no worker running says so with running: false (python_worker/cli).
            $key = $keys[(string)$reply['error']] ?? (($reply['running'] ?? null) === false ? 'WorkerStopped' : 'WorkerFailed');
            $details = (string)($reply['stderr'] ?? $reply['error']);
            return self::answer(false, $reply, [
                'error' => [$this->texts->get('module_pbx_federation_' . $key, ['details' => $details])],
            ]);
        }
        $ok = !isset($reply['ok']) || $reply['ok'] === true;
        return self::answer($ok, $reply, []);
    }

    /** @return array{result: bool, data: array, messages: array} */
    private static function answer(bool $result, array $data, array $messages): array
    {
        return ['result' => $result, 'data' => $data, 'messages' => $messages];
    }
}
