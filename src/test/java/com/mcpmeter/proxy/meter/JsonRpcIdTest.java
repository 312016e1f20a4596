package com.mcpmeter.proxy.meter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.fasterxml.jackson.databind.node.BooleanNode;
import com.fasterxml.jackson.databind.node.DoubleNode;
import com.fasterxml.jackson.databind.node.IntNode;
import com.fasterxml.jackson.databind.node.NullNode;
import com.fasterxml.jackson.databind.node.TextNode;
import java.math.BigInteger;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class JsonRpcIdTest {

    @Test
    void numbersWrittenDifferentlyAreOneId() {
        for (String same : new String[] {"1", "1.0", "1e0", "1E0", "10e-1", "0.1e1", "1.00000"}) {
            assertEquals(JsonRpcId.ofNumber("1"), JsonRpcId.ofNumber(same), same);
            assertEquals("1", JsonRpcId.ofNumber(same).key());
        }
        assertEquals(JsonRpcId.ofNumber("0"), JsonRpcId.ofNumber("-0"));
        assertEquals(JsonRpcId.ofNumber("0"), JsonRpcId.ofNumber("-0.0e3"));
        assertEquals("12345678901", JsonRpcId.ofNumber("12345678901").key());
        assertEquals("2.5", JsonRpcId.ofNumber("25e-1").key());
        assertEquals("1.0E21", JsonRpcId.ofNumber("1000000000000000000000").key());
    }

    @Test
    void aStringIsNeverTheNumberWithTheSameDigits() {
        assertNotEquals(JsonRpcId.ofString("1"), JsonRpcId.ofNumber("1"));
        assertNotEquals(JsonRpcId.ofString("1.0"), JsonRpcId.ofString("1"));
        assertEquals("\"1\"", JsonRpcId.ofString("1").key());
        assertEquals("\"a\\\"b\"", JsonRpcId.ofString("a\"b").key());
    }

    @Test
    void readsStringAndNumberNodesOnly() {
        assertEquals(Optional.of(JsonRpcId.ofNumber("1")), JsonRpcId.of(IntNode.valueOf(1)));
        assertEquals(Optional.of(JsonRpcId.ofNumber("1")), JsonRpcId.of(DoubleNode.valueOf(1.0)));
        assertEquals(
                Optional.of(JsonRpcId.ofNumber("12345678901234567890123")),
                JsonRpcId.of(com.fasterxml.jackson.databind.node.BigIntegerNode.valueOf(
                        new BigInteger("12345678901234567890123"))));
        assertEquals(Optional.of(JsonRpcId.ofString("x")), JsonRpcId.of(TextNode.valueOf("x")));
        assertEquals(Optional.empty(), JsonRpcId.of(NullNode.getInstance()));
        assertEquals(Optional.empty(), JsonRpcId.of(BooleanNode.TRUE));
        assertEquals(Optional.empty(), JsonRpcId.of(null));
    }

    @Test
    void aNumberBeyondTheRangeOfADoubleIsNoId() {
        assertEquals(Optional.empty(), JsonRpcId.number("1e400"));
        assertEquals(Optional.empty(), JsonRpcId.of(DoubleNode.valueOf(Double.POSITIVE_INFINITY)));
        assertEquals(
                Optional.empty(),
                JsonRpcId.of(com.fasterxml.jackson.databind.node.BigIntegerNode.valueOf(BigInteger.TEN.pow(400))));
        assertThrows(NumberFormatException.class, () -> JsonRpcId.ofNumber("-1e400"));
        assertEquals(Optional.of(JsonRpcId.ofNumber("0")), JsonRpcId.number("1e-400"));
    }
}
