<?php
/*
 * Base of the real-Core tests. Like Core's own tests/Unit/AbstractUnitTest.php at 2026.1.223, every test
 * gets a fresh Core DI (FactoryDefault\Cli, Di::setDefault, RegisterDIServices::init()); every test class
 * starts from a fresh station: the migrated mikopbx.db copied back, the module's db/ emptied, redis
 * flushed (Core caches model metadata and query results there) and the beanstalk tubes drained.
 */

declare(strict_types=1);

namespace PbxFedRealCore;

use PHPUnit\Framework\TestCase;

abstract class RealCoreTestCase extends TestCase
{
    public static function setUpBeforeClass(): void
    {
        parent::setUpBeforeClass();
        RealCore::freshStation();
    }

    protected function setUp(): void
    {
        parent::setUp();
        RealCore::bootDi();
    }
}
