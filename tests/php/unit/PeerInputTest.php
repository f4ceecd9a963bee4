<?php

namespace PbxFederationTests;

use Modules\ModulePbxFederation\Lib\PeerInput;
use PHPUnit\Framework\TestCase;

/** The peer form's POST becomes exactly the row the worker validates and the model stores. */
final class PeerInputTest extends TestCase
{
    public function testFormValuesBecomeARow(): void
    {
        self::assertSame([
            'name' => 'spb', 'host' => '127.0.0.2', 'port' => 5070, 'transport' => 'tcp',
            'patterns' => '3XX,4XXX', 'secret' => ' s e c ', 'enabled' => 1,
            'blf' => null, 'transfers' => 1, 'overlap_fix' => 0, 'note' => 'Питер',
            'fallback_provider' => 'SIP-PROVIDER-PSTN1', 'fallback_trim' => 1, 'fallback_prepend' => '+7812555',
            'transit_patterns' => '8495XXXXXXX,8499XXXXXXX', 'transit_provider' => 'SIP-PROVIDER-PSTN1',
            'transit_limit' => 2, 'transit_callerid' => '74951234000', 'via_patterns' => '', 'id' => 7,
        ], PeerInput::fromPost([
            'id' => '7', 'name' => ' spb ', 'host' => '127.0.0.2', 'port' => '5070', 'transport' => 'TCP',
            'patterns' => ' 3XX , ,4XXX ', 'secret' => ' s e c ', 'enabled' => 'on',
            'blf' => '', 'transfers' => '1', 'overlap_fix' => '0', 'note' => 'Питер',
            'fallback_provider' => ' SIP-PROVIDER-PSTN1', 'fallback_trim' => '1', 'fallback_prepend' => '+7812555 ',
            'transit_patterns' => '8495XXXXXXX, 8499XXXXXXX,', 'transit_provider' => 'SIP-PROVIDER-PSTN1',
            'transit_limit' => '2', 'transit_callerid' => '74951234000',
        ]));
    }

    public function testFallbackAndTransitNumbersThatAreNotWholeStayTextForTheWorkerToRefuse(): void
    {
        $peer = PeerInput::fromPost(['fallback_trim' => 'two', 'transit_limit' => '-1']);
        self::assertSame('two', $peer['fallback_trim']);
        self::assertSame('-1', $peer['transit_limit']);
        $empty = PeerInput::fromPost([]);
        self::assertSame(0, $empty['fallback_trim']);
        self::assertNull($empty['transit_limit']);
        self::assertSame('', $empty['transit_patterns']);
    }

    public function testMissingValuesGetDefaultsAndBadPortIsLeftForTheWorkerToRefuse(): void
    {
        $peer = PeerInput::fromPost(['port' => 'abc']);
        self::assertSame('abc', $peer['port']);
        self::assertSame(0, $peer['enabled']);
        self::assertNull($peer['blf']);
        self::assertArrayNotHasKey('id', $peer);
        self::assertSame(5060, PeerInput::fromPost([])['port']);
    }
}
