/* Unit tests for ierr.c: setting an error, and the class names reports and logs use. */
#include <stdio.h>
#include <string.h>

#include "base/ierr.h"
#include "../tap.h"

DEF_TEST(set_and_class_names)
{
    struct ierr e;
    memset(&e, 0x55, sizeof(e));
    ierr_set(&e, IERR_PERMANENT, "bad %s at %d", "value", 7);
    EXPECT_EQ_INT(IERR_PERMANENT, e.cls);
    EXPECT_EQ_STR("bad value at 7", e.reason);
    EXPECT_EQ_INT(0, e.line);
    EXPECT_EQ_INT(0, e.column);
    EXPECT_EQ_STR("", e.column_name);
    EXPECT_EQ_STR("", e.sample);
    ierr_set(NULL, IERR_CONFIG, "ignored");
    char longer[1000];
    memset(longer, 'x', sizeof(longer) - 1);
    longer[sizeof(longer) - 1] = '\0';
    ierr_set(&e, IERR_TRANSIENT, "%s", longer);
    EXPECT_EQ_INT(sizeof(e.reason) - 1, strlen(e.reason));
    EXPECT_EQ_STR("transient", ierr_class_name(IERR_TRANSIENT));
    EXPECT_EQ_STR("permanent", ierr_class_name(IERR_PERMANENT));
    EXPECT_EQ_STR("config", ierr_class_name(IERR_CONFIG));
    EXPECT_EQ_STR("none", ierr_class_name(IERR_NONE));
}

DEF_TEST(position_stated_once)
{
    char out[256];

    ierr_format_position(out, sizeof(out), 7, 2, "price", "not a number");
    EXPECT_EQ_STR("line 7, column price: not a number", out);
    ierr_format_position(out, sizeof(out), 7, 2, "", "not a number");
    EXPECT_EQ_STR("line 7, column 2: not a number", out);
    ierr_format_position(out, sizeof(out), 7, 0, NULL, "not a number");
    EXPECT_EQ_STR("line 7: not a number", out);
    ierr_format_position(out, sizeof(out), 7, 2, "price", "line 7, byte offset 40: bad");
    EXPECT_EQ_STR("line 7, byte offset 40: bad", out);
    ierr_format_position(out, sizeof(out), 0, 2, "price", "no position");
    EXPECT_EQ_STR("no position", out);
}

int main(void)
{
    RUN_TEST(set_and_class_names);
    RUN_TEST(position_stated_once);
    return tap_done();
}
