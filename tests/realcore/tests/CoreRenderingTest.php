<?php
/*
 * What Core 2026.1.223 itself renders from mikopbx.db rows like the ones the module writes: a provider
 * (m_Sip friend + m_Providers + m_SipHosts) and an incoming route to did2user. Checked with Core's own
 * SIPConf / ExtensionsConf:
 *  - the route becomes Goto(internal,did2user,1) (IncomingContexts, system extensions), so the station's
 *    default route action that follows it in [<provider>-incoming] is never reached;
 *  - a provider written behind Core's back (plain SQL, no model event) still gets its [<id>-incoming]
 *    context from the long-lived, DI-shared SIPConf object that WorkerModelsEvents keeps: 2026.1's
 *    extensionGenContexts() re-reads the providers every time.
 */

declare(strict_types=1);

use MikoPBX\Common\Models\IncomingRoutingTable;
use MikoPBX\Common\Models\Providers;
use MikoPBX\Common\Models\Sip;
use MikoPBX\Common\Models\SipHosts;
use MikoPBX\Core\Asterisk\Configs\ExtensionsConf;
use MikoPBX\Core\Asterisk\Configs\SIPConf;
use MikoPBX\Core\Providers\AsteriskConfModulesProvider;
use PbxFedRealCore\RealCore;
use PbxFedRealCore\RealCoreTestCase;
use Phalcon\Di\Di;

final class CoreRenderingTest extends RealCoreTestCase
{
    private static function provider(string $uid, string $host): void
    {
        $sip = new Sip();
        $sip->uniqid = $uid;
        $sip->type = 'friend';
        $sip->registration_type = 'none';
        $sip->host = $host;
        $sip->port = '5060';
        $sip->transport = 'udp';
        $sip->disabled = '0';
        $sip->description = "ModulePbxFederation: $uid";
        self::assertTrue($sip->save(), implode('; ', array_map('strval', $sip->getMessages())));
        $p = new Providers();
        $p->uniqid = $uid;
        $p->type = 'SIP';
        $p->sipuid = $uid;
        self::assertTrue($p->save());
        $h = new SipHosts();
        $h->provider_id = $uid;
        $h->address = $host;
        self::assertTrue($h->save());
    }

    /** The text of one [context] of an Asterisk config. */
    private static function context(string $conf, string $name): string
    {
        $start = strpos($conf, "[$name]");
        self::assertNotFalse($start, "[$name] is missing");
        $next = strpos($conf, "\n[", $start + 1);
        return substr($conf, $start, $next === false ? null : $next - $start);
    }

    public function testIncomingRouteToDid2userIsAGotoBeforeTheDefaultAction(): void
    {
        $uid = 'SIP-TRUNK-00000000AA';
        self::provider($uid, '127.0.0.3');
        $in = new IncomingRoutingTable();
        $in->rulename = 'ModulePbxFederation: spb';
        $in->provider = $uid;
        $in->priority = '50';
        $in->extension = 'did2user';
        $in->timeout = '120';
        $in->action = 'extension';
        self::assertTrue($in->save(), implode('; ', array_map('strval', $in->getMessages())));

        (new ExtensionsConf())->generateConfig();
        $ext = (string)file_get_contents(RealCore::settings()['asterisk']['astetcdir'] . '/extensions.conf');
        $ctx = self::context($ext, "$uid-incoming");
        self::assertStringContainsString('Goto(internal,did2user,1)', $ctx);
        self::assertStringNotContainsString('Dial(Local/did2user', $ctx);
        $goto = strpos($ctx, 'Goto(internal,did2user,1)');
        $default = strpos($ctx, 'default action');
        // Core appends the station's default action after the route; an unconditional Goto leaves first.
        self::assertTrue($default === false || $default > $goto, $ctx);
        self::assertMatchesRegularExpression('/same => n,Goto\(internal,did2user,1\)|ExecIf\([^\n]*Goto\(internal,did2user,1\)\)/', $ctx);
    }

    public function testAProviderWrittenBehindCoresBackStillGetsItsIncomingContext(): void
    {
        // The DI-shared config objects WorkerModelsEvents works with; the SIPConf among them has read its
        // providers once already.
        $shared = Di::getDefault()->getShared(AsteriskConfModulesProvider::SERVICE_NAME);
        $sipConf = null;
        foreach ($shared as $obj) {
            if ($obj instanceof SIPConf) {
                $sipConf = $obj;
            }
        }
        self::assertNotNull($sipConf);
        $sipConf->getSettings();
        $before = $sipConf->extensionGenContexts();

        $uid = 'SIP-TRUNK-00000000BB';
        $db = new SQLite3(RealCore::mikopbxDb());
        $db->busyTimeout(5000);
        // Every text column Core's generators read is given (a NULL username makes 2026.1's
        // IncomingContexts::generate() throw a TypeError, which loses the whole extensions.conf).
        $db->exec("INSERT INTO m_Sip (uniqid, type, registration_type, host, port, transport, disabled, description, username, secret)
                   VALUES ('$uid', 'friend', 'none', '127.0.0.4', 5060, 'udp', '0', 'behind the back', 'moscow', '')");
        $db->exec("INSERT INTO m_Providers (uniqid, type, sipuid) VALUES ('$uid', 'SIP', '$uid')");
        $db->close();

        self::assertStringNotContainsString("[$uid-incoming]", $before);
        self::assertStringContainsString("[$uid-incoming]", $sipConf->extensionGenContexts(), 'the same object, no model event');
    }
}
