"""Getting data in: file imports (SPEC contract 2), the packet codec and BLE (contract 1)."""
