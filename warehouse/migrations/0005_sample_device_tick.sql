-- BLE samples also carry the device clock tick at which they were taken (u32, as sent). Two
-- loads of the same notifications can map ticks to UTC a few ms apart (a capture replayed in
-- parts re-estimates the clock); the same device tick within one second is the same sample.
ALTER TABLE store.imu_samples ADD COLUMN device_tick BIGINT;
