package com.mcpmeter.proxy;

public final class Main {
    public static void main(String[] args) {}
}
