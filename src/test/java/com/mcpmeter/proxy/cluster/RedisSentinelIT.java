package com.mcpmeter.proxy.cluster;

import java.nio.file.Path;
import java.util.Map;

/** The proxy on a Redis master + replica watched by three sentinels (REDIS_MODE=sentinel). */
class RedisSentinelIT extends RedisTopologyContract {
    private RedisSentinelNodes redis;

    @Override
    Map<String, String> startRedis(Path dir) throws Exception {
        redis = RedisSentinelNodes.start(dir);
        return Map.of(
                "REDIS_MODE",
                "sentinel",
                "REDIS_NODES",
                redis.nodes(),
                "REDIS_SENTINEL_MASTER",
                RedisSentinelNodes.MASTER,
                "REDIS_DB",
                "0");
    }

    @Override
    Failover failOver() throws Exception {
        RedisSentinelNodes.Failover failover = redis.killMaster();
        return new Failover(failover.killed(), failover.promoted(), failover.millis());
    }

    @Override
    boolean everySubjectOnThePromotedNode() {
        return true;
    }

    @Override
    void stopRedis() {
        if (redis != null) {
            redis.close();
        }
    }
}
