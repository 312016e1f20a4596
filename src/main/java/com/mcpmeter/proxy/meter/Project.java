package com.mcpmeter.proxy.meter;

import java.util.OptionalLong;

/** A consumer's spend bucket; {@code monthlyCapMicroCents} is empty when there is no cap. */
public record Project(long id, long userId, OptionalLong monthlyCapMicroCents) {}
