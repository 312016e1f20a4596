package com.mcpmeter.proxy.cluster;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * The proxy on a six-node Redis Cluster (REDIS_MODE=cluster). The master killed is the one a
 * proxy's pub/sub subscription lives on (a replica holding one is promoted by hand first), so that
 * the failover also moves a subscription.
 */
class RedisClusterIT extends RedisTopologyContract {
    private RedisClusterNodes redis;

    @Override
    Map<String, String> startRedis(Path dir) throws Exception {
        redis = RedisClusterNodes.start(dir);
        return Map.of("REDIS_MODE", "cluster", "REDIS_NODES", redis.nodes(), "REDIS_DB", "0");
    }

    @Override
    Failover failOver() throws Exception {
        int victim = subscribedNode();
        if (redis.topology().stream().noneMatch(n -> n.port() == victim && n.master())) {
            System.out.printf("RedisClusterIT: a subscription lives on replica %d: promoting it first%n", victim);
            redis.promote(victim);
        }
        RedisClusterNodes.Failover failover = redis.killMaster(victim);
        return new Failover(failover.killed(), failover.promoted(), failover.millis());
    }

    /** A node a proxy's subscription lives on (PUBSUB NUMSUB counts a node's own subscribers). */
    private int subscribedNode() throws IOException {
        for (RedisClusterNodes.Node node : redis.topology()) {
            List<String> numsub = List.of(
                    RedisProcess.call(node.port(), "PUBSUB", "NUMSUB", CHANNEL).split("\n"));
            if (numsub.size() == 2 && Integer.parseInt(numsub.get(1)) > 0) {
                return node.port();
            }
        }
        throw new AssertionError("no node holds a subscription to " + CHANNEL);
    }

    @Override
    boolean everySubjectOnThePromotedNode() {
        return false;
    }

    @Override
    void stopRedis() {
        if (redis != null) {
            redis.close();
        }
    }
}
