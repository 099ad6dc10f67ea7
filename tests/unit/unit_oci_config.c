/* Opting in from config.json: env (TARDIS_*, ARCH_* aliases), annotations,
 * the network namespace, the image path priority, the NETWORKFS work dir
 * mount. */
#include "unit_main.h"
#include "oci_config.h"

#include <cjson/cJSON.h>

static struct tardis_settings parse_ok(const char *text)
{
	struct tardis_settings s;
	tardis_error_t err = NULL;

	ck_assert_msg(oci_settings_parse(text, "/b", &s, NULL, &err) == 0, "%s: %s", text,
		      tardis_error_msg(err));
	return s;
}

static void parse_bad(const char *text)
{
	struct tardis_settings s;
	tardis_error_t err = NULL;

	ck_assert_msg(oci_settings_parse(text, "/b", &s, NULL, &err) < 0, "accepted: %s", text);
	ck_assert_ptr_nonnull(err);
	tardis_error_free(&err);
}

START_TEST(test_env)
{
	struct tardis_settings s;

	s = parse_ok("{\"process\":{\"env\":[\"PATH=/bin\",\"TARDIS_ENABLE=1\"]},\"root\":{\"path\":\"rootfs\"}}");
	ck_assert_int_eq(s.enabled, 1);
	ck_assert_str_eq(s.rootfs, "/b/rootfs");
	s = parse_ok("{\"process\":{\"env\":[\"TARDIS_ENABLE=0\"]}}");
	ck_assert_int_eq(s.enabled, 0);
	s = parse_ok("{\"process\":{\"env\":[\"TARDIS_ENABLEX=1\",\"XTARDIS_ENABLE=1\"]}}");
	ck_assert_int_eq(s.enabled, 0);
	/* ARCH_* aliases; TARDIS_* wins over them whatever the order. */
	s = parse_ok("{\"process\":{\"env\":[\"ARCH_ENABLE=1\",\"ARCH_CHECKPOINT_HOST_PATH=/a\","
		     "\"TARDIS_CHECKPOINT_HOST_PATH=/t\",\"ARCH_NETWORKFS_HOST_PATH=/n\","
		     "\"ARCH_WORKDIR_CONTAINER_PATH=/w\",\"ARCH_CHECKPOINT_ON_STOP=true\"]},"
		     "\"root\":{\"path\":\"/abs/rootfs\"}}");
	ck_assert_int_eq(s.enabled, 1);
	ck_assert_str_eq(s.checkpoint_host_path, "/t");
	ck_assert_str_eq(s.networkfs, "/n");
	ck_assert_str_eq(s.workdir, "/w");
	ck_assert_int_eq(s.checkpoint_on_stop, 1);
	ck_assert_str_eq(s.rootfs, "/abs/rootfs");
}
END_TEST

START_TEST(test_annotations)
{
	struct tardis_settings s;

	s = parse_ok("{\"process\":{},\"annotations\":{\"tardis.io/enable\":\"true\","
		     "\"tardis.io/checkpoint-host-path\":\"/c\",\"other\":\"x\"}}");
	ck_assert_int_eq(s.enabled, 1);
	ck_assert_str_eq(s.checkpoint_host_path, "/c");
	s = parse_ok("{\"process\":{},\"annotations\":{\"tardis.io/TARDIS_ENABLE\":\"1\"}}");
	ck_assert_int_eq(s.enabled, 1);
	/* env beats annotations */
	s = parse_ok("{\"process\":{\"env\":[\"TARDIS_ENABLE=0\"]},\"annotations\":{\"tardis.io/enable\":\"1\"}}");
	ck_assert_int_eq(s.enabled, 0);
}
END_TEST

/* Made by a CRI plugin: a pod's sandbox is never enabled, whatever the
 * pod's annotations (they reach its config.json too). */
START_TEST(test_cri)
{
	struct tardis_settings s;

	s = parse_ok("{\"process\":{},\"annotations\":{\"tardis.io/enable\":\"true\","
		     "\"io.kubernetes.cri.container-type\":\"sandbox\"}}");
	ck_assert_int_eq(s.cri, CRI_SANDBOX);
	ck_assert_int_eq(s.enabled, 0);
	s = parse_ok("{\"process\":{\"env\":[\"TARDIS_ENABLE=1\"]},\"annotations\":"
		     "{\"io.kubernetes.cri.container-type\":\"container\"}}");
	ck_assert_int_eq(s.cri, CRI_CONTAINER);
	ck_assert_int_eq(s.enabled, 1);
	s = parse_ok("{\"process\":{\"env\":[\"TARDIS_ENABLE=1\"]},\"annotations\":"
		     "{\"io.kubernetes.cri-o.ContainerType\":\"sandbox\"}}");
	ck_assert_int_eq(s.cri, CRI_SANDBOX);
	ck_assert_int_eq(s.enabled, 0);
	s = parse_ok("{\"process\":{\"env\":[\"TARDIS_ENABLE=1\"]}}");
	ck_assert_int_eq(s.cri, CRI_NONE);
	ck_assert_int_eq(s.enabled, 1);
}
END_TEST

#define CRI_CTR "\"io.kubernetes.cri.container-type\":\"container\""
#define CRI_POD                                                                              \
	"\"io.kubernetes.cri.sandbox-namespace\":\"prod\",\"io.kubernetes.cri.sandbox-name\":" \
	"\"web-0\",\"io.kubernetes.cri.container-name\":\"counter\""

START_TEST(test_identity)
{
	struct tardis_settings s;

	/* A CRI container: pod namespace / pod name / container name. */
	s = parse_ok("{\"process\":{},\"annotations\":{" CRI_CTR "," CRI_POD "}}");
	ck_assert_str_eq(s.identity, "prod/web-0/counter");
	/* CRI-O's (kubelet's) names. */
	s = parse_ok("{\"process\":{},\"annotations\":{\"io.kubernetes.cri-o.ContainerType\":"
		     "\"container\",\"io.kubernetes.pod.namespace\":\"a\",\"io.kubernetes.pod."
		     "name\":\"b\",\"io.kubernetes.container.name\":\"c\"}}");
	ck_assert_str_eq(s.identity, "a/b/c");
	/* The sandbox has none (and is never enabled); a plain one neither. */
	s = parse_ok("{\"process\":{},\"annotations\":{\"io.kubernetes.cri.container-type\":"
		     "\"sandbox\"," CRI_POD "}}");
	ck_assert_str_eq(s.identity, "");
	s = parse_ok("{\"process\":{},\"annotations\":{" CRI_POD "}}");
	ck_assert_str_eq(s.identity, "");
	/* A name that is no id: none, rather than a path. */
	s = parse_ok("{\"process\":{},\"annotations\":{" CRI_CTR ",\"io.kubernetes.cri.sandbox-"
		     "namespace\":\"..\",\"io.kubernetes.cri.sandbox-name\":\"x\","
		     "\"io.kubernetes.cri.container-name\":\"y\"}}");
	ck_assert_str_eq(s.identity, "");
	/* Explicit: the annotation (it names the pod: a CRI container's
	 * name is added), then TARDIS_IDENTITY over it, as it is. */
	s = parse_ok("{\"process\":{},\"annotations\":{" CRI_CTR "," CRI_POD
		     ",\"tardis.io/identity\":\"shop/cart\"}}");
	ck_assert_str_eq(s.identity, "shop/cart/counter");
	s = parse_ok("{\"process\":{},\"annotations\":{\"tardis.io/identity\":\"shop/cart\"}}");
	ck_assert_str_eq(s.identity, "shop/cart");
	parse_bad("{\"process\":{},\"annotations\":{" CRI_CTR "," CRI_POD
		  ",\"tardis.io/identity\":\"a/b/c/d\"}}");
	s = parse_ok("{\"process\":{\"env\":[\"TARDIS_IDENTITY=x/y\"]},\"annotations\":{" CRI_CTR
		     "," CRI_POD ",\"tardis.io/identity\":\"shop/cart\"}}");
	ck_assert_str_eq(s.identity, "x/y");
	s = parse_ok("{\"process\":{\"env\":[\"TARDIS_IDENTITY=x/y/z/w\"]},\"annotations\":{"
		     "\"tardis.io/identity\":\"shop/cart\"}}");
	ck_assert_str_eq(s.identity, "x/y/z/w");
	parse_bad("{\"process\":{\"env\":[\"TARDIS_IDENTITY=../../etc\"]}}");
	parse_bad("{\"process\":{\"env\":[\"TARDIS_IDENTITY=/abs\"]}}");
	parse_bad("{\"process\":{\"env\":[\"TARDIS_IDENTITY=a//b\"]}}");
	parse_bad("{\"process\":{\"env\":[\"TARDIS_IDENTITY=a/b/c/d/e\"]}}");
	parse_bad("{\"process\":{},\"annotations\":{\"tardis.io/identity\":\"a/./b\"}}");
	ck_assert(settings_identity_valid("prod/web-0/counter"));
	ck_assert(!settings_identity_valid("prod/web-0/"));
	ck_assert(!settings_identity_valid(""));
}
END_TEST

START_TEST(test_tcp_established)
{
	struct tardis_settings s;

	s = parse_ok("{\"process\":{\"env\":[\"TARDIS_ENABLE=1\"]}}");
	ck_assert_int_eq(s.tcp_established, 0); /* closed on restore by default */
	s = parse_ok("{\"process\":{\"env\":[\"TARDIS_TCP_ESTABLISHED=1\"]}}");
	ck_assert_int_eq(s.tcp_established, 1);
	s = parse_ok("{\"process\":{\"env\":[\"ARCH_TCP_ESTABLISHED=yes\"]}}");
	ck_assert_int_eq(s.tcp_established, 1);
	s = parse_ok("{\"process\":{\"env\":[\"TARDIS_TCP_ESTABLISHED=0\",\"ARCH_TCP_ESTABLISHED=1\"]}}");
	ck_assert_int_eq(s.tcp_established, 0);
	s = parse_ok("{\"process\":{},\"annotations\":{\"tardis.io/tcp-established\":\"true\"}}");
	ck_assert_int_eq(s.tcp_established, 1);
	s = parse_ok("{\"process\":{},\"annotations\":{\"tardis.io/TARDIS_TCP_ESTABLISHED\":\"1\"}}");
	ck_assert_int_eq(s.tcp_established, 1);
	s = parse_ok("{\"process\":{\"env\":[\"TARDIS_TCP_ESTABLISHED=0\"]},"
		     "\"annotations\":{\"tardis.io/tcp-established\":\"1\"}}");
	ck_assert_int_eq(s.tcp_established, 0);
}
END_TEST

START_TEST(test_netns)
{
	struct tardis_settings s;

	s = parse_ok("{\"process\":{},\"linux\":{\"namespaces\":[{\"type\":\"pid\"}]}}");
	ck_assert_int_eq(s.netns, NETNS_HOST);
	s = parse_ok("{\"process\":{}}");
	ck_assert_int_eq(s.netns, NETNS_HOST);
	s = parse_ok("{\"process\":{},\"linux\":{\"namespaces\":[{\"type\":\"pid\"},"
		     "{\"type\":\"network\"}]}}");
	ck_assert_int_eq(s.netns, NETNS_OWN);
	s = parse_ok("{\"process\":{},\"linux\":{\"namespaces\":[{\"type\":\"network\",\"path\":\"\"}]}}");
	ck_assert_int_eq(s.netns, NETNS_OWN);
	ck_assert_str_eq(s.netns_path, "");
	s = parse_ok("{\"process\":{},\"linux\":{\"namespaces\":[{\"type\":\"network\","
		     "\"path\":\"/var/run/netns/cni-1\"}]}}");
	ck_assert_int_eq(s.netns, NETNS_PATH);
	ck_assert_str_eq(s.netns_path, "/var/run/netns/cni-1");
	/* Malformed: runc's to refuse, tardis sees no namespace. */
	s = parse_ok("{\"process\":{},\"linux\":{\"namespaces\":{\"type\":\"network\"}}}");
	ck_assert_int_eq(s.netns, NETNS_HOST);
}
END_TEST

START_TEST(test_not_enabled_or_bad)
{
	struct tardis_settings s;

	/* No process: simply not enabled. */
	s = parse_ok("{\"annotations\":{\"tardis.io/enable\":\"1\"}}");
	ck_assert_int_eq(s.enabled, 0);
	parse_bad("");
	parse_bad("[]");
	parse_bad("{\"process\":{\"env\":\"TARDIS_ENABLE=1\"}}");
	parse_bad("{\"process\":{\"env\":[1]}}");
	parse_bad("{\"process\":[]}");
	parse_bad("{\"process\":{},\"annotations\":[]}");
	parse_bad("{\"process\":{},\"annotations\":{\"tardis.io/enable\":1}}");
	parse_bad("{\"process\":{\"env\":[\"TARDIS_CHECKPOINT_HOST_PATH=relative\"]}}");
	parse_bad("{\"process\":{\"env\":[\"TARDIS_NETWORKFS_HOST_PATH=/a/../etc\"]}}");
	parse_bad("{\"process\":{\"env\":[\"TARDIS_WORKDIR_CONTAINER_PATH=/a\\nb\"]}}");
	parse_bad("{\"process\":{\"env\":[\"TARDIS_ENABLE=1\"]");
}
END_TEST

START_TEST(test_image_path)
{
	struct tardis_settings s = { 0 };
	char buf[4096];

	ck_assert_int_eq(settings_image_path(&s, "/var/lib/tardis", "default", "c1", buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "/var/lib/tardis/checkpoints/default/c1");
	strcpy(s.checkpoint_host_path, "/ck");
	ck_assert_int_eq(settings_image_path(&s, "/v", "default", "c1", buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "/ck/default/c1");
	strcpy(s.networkfs, "/nfs");
	ck_assert_int_eq(settings_image_path(&s, "/v", "k8s.io", "c1", buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "/nfs/checkpoint/k8s.io/c1");
	ck_assert_int_eq(settings_image_path(&s, "/v", "default", "../../etc", buf, sizeof(buf)), -1);
	ck_assert_int_eq(settings_image_path(&s, "/v", "..", "c1", buf, sizeof(buf)), -1);
	ck_assert_int_eq(settings_work_dir(&s, "default", "c1", buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, ""); /* no WORKDIR */
	strcpy(s.workdir, "/work");
	ck_assert_int_eq(settings_work_dir(&s, "default", "c1", buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "/nfs/work/default/c1");
	/* Keyed by identity: any container of it finds the same paths. */
	strcpy(s.identity, "prod/web-0/counter");
	ck_assert_int_eq(settings_image_path(&s, "/v", "k8s.io", "c2", buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "/nfs/checkpoint/k8s/prod/web-0/counter");
	ck_assert_int_eq(settings_work_dir(&s, "k8s.io", "c2", buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "/nfs/work/k8s/prod/web-0/counter");
	s.networkfs[0] = '\0';
	ck_assert_int_eq(settings_image_path(&s, "/v", "k8s.io", "c2", buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "/ck/k8s/prod/web-0/counter");
	strcpy(s.identity, "../x");
	ck_assert_int_eq(settings_image_path(&s, "/v", "k8s.io", "c2", buf, sizeof(buf)), -1);
}
END_TEST

START_TEST(test_workdir_mount)
{
	struct tardis_settings s = { 0 };
	tardis_error_t err = NULL;
	cJSON *c;
	char *text;

	strcpy(s.workdir, "/work");
	c = cJSON_Parse("{\"process\":{\"cwd\":\"/\"},\"mounts\":[{\"destination\":\"/proc\"}]}");
	ck_assert_int_eq(oci_config_add_workdir(c, &s, "/nfs/work/d/c", &err), 1);
	text = cJSON_PrintUnformatted(c);
	ck_assert_ptr_nonnull(strstr(text, "{\"destination\":\"/work\",\"type\":\"bind\",\"source\":\"/nfs/work/d/c\",\"options\":[\"rbind\",\"rw\"]}"));
	ck_assert_ptr_nonnull(strstr(text, "\"cwd\":\"/work\""));
	free(text);
	/* A second create finds its own mount: nothing to change. */
	ck_assert_int_eq(oci_config_add_workdir(c, &s, "/nfs/work/d/c", &err), 0);
	cJSON_Delete(c);
	/* WORKDIR already the destination of another mount: refused. */
	c = cJSON_Parse("{\"process\":{},\"mounts\":[{\"destination\":\"/work\",\"source\":\"/elsewhere\"}]}");
	ck_assert_int_eq(oci_config_add_workdir(c, &s, "/nfs/work/d/c", &err), -1);
	ck_assert_ptr_nonnull(strstr(tardis_error_msg(err), "already the destination"));
	tardis_error_free(&err);
	cJSON_Delete(c);
	/* No mounts array yet. */
	c = cJSON_Parse("{\"process\":{}}");
	ck_assert_int_eq(oci_config_add_workdir(c, &s, "/nfs/work/d/c", &err), 1);
	cJSON_Delete(c);
}
END_TEST

UNIT_SUITE(oci_config, "settings", test_env, test_annotations, test_cri, test_identity, test_tcp_established, test_netns,
	   test_not_enabled_or_bad,
	   test_image_path, test_workdir_mount)
