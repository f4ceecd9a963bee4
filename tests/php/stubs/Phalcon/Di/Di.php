<?php

namespace Phalcon\Di;

/** Stand-in for Phalcon's DI container: only the shared services a test puts in it. */
class Di
{
    /** @var Di|null */
    private static $default;

    /** @var array<string, mixed> */
    private $services;

    /** @param array<string, mixed> $services */
    public function __construct(array $services = [])
    {
        $this->services = $services;
    }

    public static function getDefault(): ?Di
    {
        return self::$default;
    }

    public static function setDefault(?Di $di): void
    {
        self::$default = $di;
    }

    public function has(string $name): bool
    {
        return array_key_exists($name, $this->services);
    }

    /** @return mixed */
    public function getShared(string $name)
    {
        return $this->services[$name];
    }
}
